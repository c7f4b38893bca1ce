# Each target sets itself up: a fresh machine needs only python3 (>= 3.11).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.bench-installed

.PHONY: demo test bench lint run clean fonts

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

# Slates, credits and captions set Chinese, Japanese and Korean in Noto Sans CJK (Debian's
# fonts-noto-cjk), installed here when absent; without apt-get they fall back with a warning.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
fonts:
	@dpkg -s fonts-noto-cjk >/dev/null 2>&1 || ! command -v apt-get >/dev/null \
		|| { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get \
			install -y -qq --no-install-recommends fonts-noto-cjk fonts-dejavu-core; } \
		|| echo "warning: could not install fonts-noto-cjk: CJK text will show as boxes"

demo: $(STAMP) fonts
	$(BIN)/python bot.py demo

test: $(STAMP) fonts
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -n 2 --dist loadscope

# The benchmarks also compare with moviepy: the bench extra.
$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install -q -e '.[dev,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python bench/run_all.py

lint: $(STAMP)
	$(BIN)/ruff check .

run: $(STAMP) fonts
	$(BIN)/python bot.py

clean:
	rm -rf $(VENV)
