// Intrusive doubly linked list.  An object joins a list by deriving from ListLink<Tag>, one base
// per list it can be on (the Tag tells them apart); the list never allocates.  A link that is not
// on a list points at itself, so unlink() is always safe and linked() is exact.
#pragma once
#include "lib/types.hpp"

namespace pv {

struct DefaultListTag;

template <typename Tag = DefaultListTag> struct ListLink {
    ListLink* prev = this;
    ListLink* next = this;

    ListLink() = default;
    ListLink(const ListLink&) = delete;
    ListLink& operator=(const ListLink&) = delete;

    bool linked() const { return next != this; }
    void unlink() {
        prev->next = next;
        next->prev = prev;
        prev = next = this;
    }
};

template <typename T, typename Tag = DefaultListTag> class List {
    using Link = ListLink<Tag>;

public:
    List() = default;
    List(const List&) = delete;
    List& operator=(const List&) = delete;

    bool empty() const { return head_.next == &head_; }
    usize size() const {
        usize n = 0;
        for (const Link* p = head_.next; p != &head_; p = p->next) ++n;
        return n;
    }
    void push_front(T& obj) { insert_after(&head_, link(obj)); }
    void push_back(T& obj) { insert_after(head_.prev, link(obj)); }
    T* front() { return empty() ? nullptr : owner(head_.next); }
    T* back() { return empty() ? nullptr : owner(head_.prev); }
    T* pop_front() {
        T* t = front();
        if (t) link(*t)->unlink();
        return t;
    }
    // Inserts obj just before pos (which is on this list).
    static void insert_before(T& pos, T& obj) { insert_after(link(pos)->prev, link(obj)); }
    static void remove(T& obj) { link(obj)->unlink(); }
    static bool on_a_list(T& obj) { return link(obj)->linked(); }

    class Iterator {
    public:
        explicit Iterator(Link* n) : n_(n) {}
        T& operator*() const { return *owner(n_); }
        T* operator->() const { return owner(n_); }
        Iterator& operator++() {
            n_ = n_->next;
            return *this;
        }
        bool operator!=(const Iterator& o) const { return n_ != o.n_; }

    private:
        Link* n_;
    };
    // Iteration must not unlink the current element; use pop_front() to drain.
    Iterator begin() { return Iterator(head_.next); }
    Iterator end() { return Iterator(&head_); }

private:
    static Link* link(T& obj) { return static_cast<Link*>(&obj); }
    static T* owner(Link* n) { return &static_cast<T&>(*n); }
    static void insert_after(Link* pos, Link* n) {
        n->prev = pos;
        n->next = pos->next;
        pos->next->prev = n;
        pos->next = n;
    }
    Link head_;
};

}  // namespace pv
