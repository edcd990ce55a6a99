# Front door.  `make` builds everything, `make run` boots pvisor in QEMU, `make test` runs every test.
BUILD   ?= build
JOBS    ?= $(shell nproc)
CMAKE_FLAGS ?= -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo

.PHONY: all deps build run run-iso iso test bench fuzz unit boot-tests clean
all: build iso

deps:
	@scripts/deps.sh

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

build: $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

iso: build
	cmake --build $(BUILD) --target pvisor-iso

# Boot pvisor in QEMU with its default configuration; the serial console is this terminal.
run: deps build
	scripts/run-qemu.sh

run-iso: deps iso
	scripts/run-qemu.sh --iso

# Install what is missing, build, and run every test (host unit tests and QEMU boot tests) with ctest.
test: deps build iso
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The benchmark suite: the benchmark kernel on pvisor and on Xen 4.17 under QEMU -icount, compared;
# results into bench/results/ (bench/README.md).
bench: deps build
	python3 bench/run.py --build $(BUILD)

# Host-side fuzzing for longer than the ctest runs: each libFuzzer target for FUZZ_TIME seconds
# on a corpus kept in $(BUILD)/fuzz-corpus (tests/fuzz).  Findings land in $(BUILD)/fuzz-corpus.
FUZZ_TIME ?= 300
fuzz: deps build
	@for t in elf xenstore page_types cpio xlcfg xl decompress bzimage; do \
	  mkdir -p $(BUILD)/fuzz-corpus/$$t && cd $(BUILD)/fuzz-corpus && \
	  $(abspath $(BUILD))/tests/fuzz/fuzz_$$t -max_total_time=$(FUZZ_TIME) -max_len=65536 \
	    $$( [ -f $(CURDIR)/tests/fuzz/$$t.dict ] && echo -dict=$(CURDIR)/tests/fuzz/$$t.dict ) $$t || exit 1; \
	  cd $(CURDIR); done

clean:
	rm -rf $(BUILD)
