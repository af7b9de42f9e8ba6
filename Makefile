# A thin driver for CMake, the way neovim's top-level Makefile is: the two
# README commands (make demo, make check) install what is missing, build, and
# run.  Everything real is in CMakeLists.txt.
BUILD    ?= build
ASAN     ?= build-asan
FUZZDIR  ?= build-fuzz
JOBS     ?= $(shell nproc)
# ctest runs one test more than there are cores: a third of the suite's time
# is waiting (kube-apiserver and etcd starting, nginx's limit_rate, libvirt
# and the kubelet polling), which left a core idle a third of the time.
TEST_JOBS ?= $(shell echo $$(( $$(nproc) + 1 )))
FUZZ_SECONDS ?= 3600
FUZZ_LOG ?= $(FUZZDIR)/campaign.log
FUZZ_TARGETS ?=
CMAKE_FLAGS ?=

.PHONY: all deps kube-deps test-deps build demo check test asan-check fuzz fuzz-check fuzz-campaign bench clean

all: build

deps:
	@./scripts/install-deps.sh

# The Kubernetes-mode tests (tests/kube/) run against a real kube-apiserver
# and etcd: built once from Debian's source package (about 7 minutes cold,
# nothing after).  Only the test targets need it.
kube-deps: deps
	@./scripts/build-kube-apiserver.sh >/dev/null

# The apiserver and the converter's test guest (a debootstrap, cached in
# /var/tmp) side by side: a cold machine waits for the slower one only.
test-deps: deps
	@./scripts/prepare-tests.sh $(BUILD)/prepare-tests

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

build: deps $(BUILD)/CMakeCache.txt
	@cmake --build $(BUILD) -j$(JOBS)

demo: build
	@./scripts/demo.sh $(BUILD)/bin

test: build test-deps
	cd $(BUILD) && ctest --output-on-failure -j$(TEST_JOBS)

# Every test, then the unit tests again under ASan+UBSan, then a short
# libFuzzer run of every fuzz target (seeded with its corpus).
check: build test-deps
	cd $(BUILD) && ctest --output-on-failure -j$(TEST_JOBS)
	@$(MAKE) --no-print-directory asan-check
	@$(MAKE) --no-print-directory fuzz-check

asan-check: deps
	@cmake -S . -B $(ASAN) -DFERRY_SANITIZE=address,undefined -DFERRY_WERROR=ON >/dev/null
	@cmake --build $(ASAN) -j$(JOBS)
	cd $(ASAN) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
		ctest --output-on-failure -j$(JOBS) -L unit

fuzz: deps
	@CC=clang cmake -S . -B $(FUZZDIR) -DFERRY_FUZZ=ON >/dev/null
	@cmake --build $(FUZZDIR) -j$(JOBS)

# Each fuzz-*-short test is a real libFuzzer run here (2000 inputs or 60 s),
# not the seed replay the ordinary build does.
fuzz-check: fuzz
	cd $(FUZZDIR) && ctest --output-on-failure -j$(JOBS) -R '^fuzz-.*-short$$'

# The fuzzing campaign (issue 13; not part of check): every fuzz target in
# turn for FUZZ_SECONDS (default an hour) on one core, seeded with its
# corpus; one line per target (date, executions, exec/s, corpus, crashes) is
# appended to FUZZ_LOG and to tests/fuzz/campaign-runs.txt (committed, with
# the minimized corpora in tests/fuzz/campaign/), then the totals per target
# are printed.  FUZZ_TARGETS="fuzz-vmdk fuzz-stream" picks some.
fuzz-campaign: fuzz
	./tests/fuzz/campaign.sh $(FUZZDIR) $(FUZZ_SECONDS) $(abspath $(FUZZ_LOG)) $(FUZZ_TARGETS)
	./tests/fuzz/campaign.sh --summary

# Every benchmark against its anchor; each gets the absolute bin directory.
# All run; a benchmark that cannot measure fails the target at the end.
bench: build
	@failed=; for b in bench/*.sh; do echo "== $$b"; \
		$$b $(abspath $(BUILD))/bin || { echo "== $$b FAILED (exit $$?)"; failed="$$failed $$b"; }; \
	done; [ -z "$$failed" ] || { echo "make bench: failed:$$failed" >&2; exit 1; }

clean:
	rm -rf $(BUILD) $(ASAN) $(FUZZDIR)
