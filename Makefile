# Thin wrapper over CMake: `make demo` and `make test` install what is missing,
# configure, build, then train (demo) or run the CTest suite (test).
BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CTEST_ARGS ?=

.PHONY: all deps test-deps configure build demo test test-slow clean

all: build

deps:
	@sh scripts/install-deps.sh

test-deps:
	@sh scripts/install-deps.sh --test

configure:
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) > $(BUILD_DIR).configure.log 2>&1 || (cat $(BUILD_DIR).configure.log; exit 1)

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

demo: deps
	@$(MAKE) --no-print-directory build
	@sh scripts/demo.sh $(BUILD_DIR)

test: test-deps
	@$(MAKE) --no-print-directory build
	@cd $(BUILD_DIR) && ctest --output-on-failure -LE slow -j $(JOBS) $(CTEST_ARGS)

test-slow: test-deps
	@$(MAKE) --no-print-directory build
	@cd $(BUILD_DIR) && ctest --output-on-failure -L slow $(CTEST_ARGS)

clean:
	@rm -rf $(BUILD_DIR) $(BUILD_DIR).configure.log
