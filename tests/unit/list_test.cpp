#include "lib/list.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <vector>

namespace {

struct Item : pv::ListLink<> {
    explicit Item(int v) : value(v) {}
    int value;
};
using ItemList = pv::List<Item>;

std::vector<int> values(ItemList& l) {
    std::vector<int> out;
    for (auto& i : l) out.push_back(i.value);
    return out;
}

TEST(List, EmptyList) {
    ItemList l;
    EXPECT_TRUE(l.empty());
    EXPECT_EQ(l.size(), 0u);
    EXPECT_EQ(l.front(), nullptr);
    EXPECT_EQ(l.back(), nullptr);
    EXPECT_EQ(l.pop_front(), nullptr);
    EXPECT_FALSE(l.begin() != l.end());
}

TEST(List, PushBackPopFrontIsFifo) {
    Item a(1), b(2), c(3);
    ItemList l;
    l.push_back(a);
    l.push_back(b);
    l.push_back(c);
    EXPECT_FALSE(l.empty());
    EXPECT_EQ(l.size(), 3u);
    EXPECT_EQ(l.front(), &a);
    EXPECT_EQ(l.back(), &c);
    EXPECT_EQ(values(l), (std::vector<int>{1, 2, 3}));
    EXPECT_EQ(l.pop_front(), &a);
    EXPECT_FALSE(ItemList::on_a_list(a));
    EXPECT_EQ(l.pop_front(), &b);
    EXPECT_EQ(l.pop_front(), &c);
    EXPECT_EQ(l.pop_front(), nullptr);
    EXPECT_TRUE(l.empty());
}

TEST(List, PushFrontIsLifo) {
    Item a(1), b(2), c(3);
    ItemList l;
    l.push_front(a);
    l.push_front(b);
    l.push_front(c);
    EXPECT_EQ(values(l), (std::vector<int>{3, 2, 1}));
    EXPECT_EQ(l.front(), &c);
    EXPECT_EQ(l.back(), &a);
    EXPECT_EQ(l.pop_front(), &c);
    EXPECT_EQ(values(l), (std::vector<int>{2, 1}));
}

TEST(List, MixedPushes) {
    Item a(1), b(2), c(3), d(4);
    ItemList l;
    l.push_back(b);
    l.push_front(a);
    l.push_back(c);
    l.push_front(d);
    EXPECT_EQ(values(l), (std::vector<int>{4, 1, 2, 3}));
}

TEST(List, RemoveFromMiddleFrontBack) {
    Item a(1), b(2), c(3), d(4);
    ItemList l;
    for (Item* i : {&a, &b, &c, &d}) l.push_back(*i);
    ItemList::remove(b);
    EXPECT_FALSE(ItemList::on_a_list(b));
    EXPECT_EQ(values(l), (std::vector<int>{1, 3, 4}));
    ItemList::remove(a);
    EXPECT_EQ(values(l), (std::vector<int>{3, 4}));
    EXPECT_EQ(l.front(), &c);
    ItemList::remove(d);
    EXPECT_EQ(values(l), (std::vector<int>{3}));
    EXPECT_EQ(l.back(), &c);
    ItemList::remove(c);
    EXPECT_TRUE(l.empty());
    EXPECT_EQ(l.size(), 0u);
}

TEST(List, UnlinkOfUnlinkedNodeIsSafe) {
    Item a(1), b(2);
    EXPECT_FALSE(a.linked());
    a.unlink();  // never linked
    EXPECT_FALSE(a.linked());
    ItemList::remove(a);
    EXPECT_FALSE(ItemList::on_a_list(a));

    ItemList l;
    l.push_back(a);
    l.push_back(b);
    ItemList::remove(a);
    ItemList::remove(a);  // twice: must not disturb the list it left
    a.unlink();
    EXPECT_EQ(values(l), (std::vector<int>{2}));
    EXPECT_EQ(l.size(), 1u);
}

TEST(List, RelinkAfterRemove) {
    Item a(1), b(2);
    ItemList l1, l2;
    l1.push_back(a);
    l1.push_back(b);
    ItemList::remove(a);
    l2.push_back(a);
    EXPECT_EQ(values(l1), (std::vector<int>{2}));
    EXPECT_EQ(values(l2), (std::vector<int>{1}));
    EXPECT_EQ(l2.pop_front(), &a);
    l1.push_front(a);
    EXPECT_EQ(values(l1), (std::vector<int>{1, 2}));
}

TEST(List, IterationModifiesThroughReference) {
    Item a(1), b(2), c(3);
    ItemList l;
    for (Item* i : {&a, &b, &c}) l.push_back(*i);
    for (auto& i : l) i.value *= 10;
    EXPECT_EQ(values(l), (std::vector<int>{10, 20, 30}));
    auto it = l.begin();
    EXPECT_EQ(it->value, 10);
    ++it;
    EXPECT_EQ((*it).value, 20);
}

TEST(List, DrainWithPopFront) {
    std::deque<Item> items;  // links are not movable: a deque never relocates its elements
    ItemList l;
    for (int i = 0; i < 100; ++i) items.emplace_back(i);
    for (auto& i : items) l.push_back(i);
    EXPECT_EQ(l.size(), 100u);
    int expect = 0;
    while (Item* i = l.pop_front()) {
        EXPECT_EQ(i->value, expect++);
        EXPECT_FALSE(i->linked());
    }
    EXPECT_EQ(expect, 100);
}

// An object on two lists at once, one link per tag.
struct RunTag;
struct AllTag;
struct Task : pv::ListLink<RunTag>, pv::ListLink<AllTag> {
    explicit Task(int v) : id(v) {}
    int id;
};

TEST(List, ObjectOnTwoListsViaTags) {
    Task t1(1), t2(2), t3(3);
    pv::List<Task, AllTag> all;
    pv::List<Task, RunTag> run;
    all.push_back(t1);
    all.push_back(t2);
    all.push_back(t3);
    run.push_back(t3);
    run.push_back(t1);

    std::vector<int> a, r;
    for (auto& t : all) a.push_back(t.id);
    for (auto& t : run) r.push_back(t.id);
    EXPECT_EQ(a, (std::vector<int>{1, 2, 3}));
    EXPECT_EQ(r, (std::vector<int>{3, 1}));

    // Leaving one list leaves the other intact.
    pv::List<Task, RunTag>::remove(t3);
    EXPECT_FALSE((pv::List<Task, RunTag>::on_a_list(t3)));
    EXPECT_TRUE((pv::List<Task, AllTag>::on_a_list(t3)));
    EXPECT_EQ(run.front(), &t1);
    EXPECT_EQ(all.size(), 3u);
    EXPECT_EQ(all.back(), &t3);

    EXPECT_EQ(all.pop_front(), &t1);
    EXPECT_TRUE((pv::List<Task, RunTag>::on_a_list(t1)));
    EXPECT_EQ(run.front(), &t1);
    EXPECT_EQ(run.size(), 1u);
    EXPECT_EQ(all.front(), &t2);

    // front()/pop_front() return the Task itself, not a base subobject at an offset.
    Task* p = run.pop_front();
    EXPECT_EQ(p, &t1);
    EXPECT_EQ(p->id, 1);
}

}  // namespace
