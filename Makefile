# The two entry points of the suite. Everything else is CMake presets:
#   cmake --workflow --preset ci-asan   (what `make test` runs)
#   cmake --preset release && cmake --build --preset release
.PHONY: all demo test deps build release format lint clean

all: build

deps:
	@scripts/deps.sh

build: deps
	cmake --preset dev >/dev/null
	cmake --build --preset dev

release: deps
	cmake --preset release >/dev/null
	cmake --build --preset release

# The suite's main job on an embedded default (see README.md).
demo: release
	scripts/demo.sh build/release

# Every test, in the ASan+UBSan build; ends with ctest's summary line.
test: deps
	cmake --workflow --preset ci-asan

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

lint: deps
	scripts/lint.sh

clean:
	rm -rf build
