# candlekeep front door. `make deps` installs the Debian packages the build
# and the tests need, `make run` builds and runs the main job on the SQLite
# default, `make test` runs every test twice: a normal build and an
# ASan+UBSan build, each against SQLite and a throwaway PostgreSQL server.
# Then the threaded unit tests under ThreadSanitizer (also `make tsan`).
# `make fuzz` runs each parser's libFuzzer harness for FUZZ_SECONDS (clang).

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
TSAN_BUILD ?= build-tsan
FUZZ_SECONDS ?= 60
JOBS       ?= $(shell nproc)
CONFIG     ?= candlekeep.ini

.PHONY: all deps build asan run test test-fast bench fuzz tsan clean format

all: build

deps:
	@sh tools/install-deps.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

$(ASAN_BUILD)/CMakeCache.txt:
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCK_SANITIZE=ON

asan: $(ASAN_BUILD)/CMakeCache.txt
	cmake --build $(ASAN_BUILD) -j $(JOBS)

run: deps build
	@sh tools/run.sh $(BUILD)/candlekeep $(CONFIG)

# Every test, normal build then sanitizers; PostgreSQL is started by the script.
test: deps
	@bash tools/test.sh $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD)

# The normal build only (quicker while developing).
test-fast: deps
	@CK_SKIP_ASAN=1 CK_SKIP_TSAN=1 bash tools/test.sh $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD)

bench: deps build
	@sh tools/install-deps.sh nginx-light
	@bash bench/run.sh $(BUILD)

# The threaded unit tests under ThreadSanitizer.
tsan: deps
	@bash tools/tsan.sh $(TSAN_BUILD)

# Every parser's libFuzzer harness (tests/fuzz) for FUZZ_SECONDS each (clang).
fuzz: deps
	@bash tools/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) $(TSAN_BUILD)
