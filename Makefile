# Thin wrapper over meson + ninja.  The real work lives in scripts/.
BUILDDIR ?= build/release
PREFIX ?= /usr/local
FUZZ_SECONDS ?= 600

all: $(BUILDDIR)/build.ninja
	ninja -C $(BUILDDIR)

$(BUILDDIR)/build.ninja:
	meson setup $(BUILDDIR) --prefix=$(PREFIX)

check:
	scripts/check

demo:
	scripts/demo

bench:
	scripts/bench

fuzz:
	scripts/fuzz $(FUZZ_SECONDS)

install: $(BUILDDIR)/build.ninja
	meson configure $(BUILDDIR) -Dprefix=$(PREFIX)
	ninja -C $(BUILDDIR)
	meson install -C $(BUILDDIR) --no-rebuild --destdir "$(DESTDIR)"

deb:
	scripts/deb

rpm:
	scripts/rpm

format:
	git ls-files -z '*.c' '*.h' | xargs -0 clang-format -i

clean:
	rm -rf build

.PHONY: all check demo bench fuzz install deb rpm format clean
