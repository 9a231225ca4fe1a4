# apitap: make run (a local tick, no AWS account needed) and make test (everything) are the two set-up commands.
SHELL := /bin/bash
# PyPI tools (moto, cfn-lint, awscli, jsonschema) live in the project's virtual environment (scripts/dev/deps.sh).
export PATH := $(CURDIR)/.venv/bin:$(PATH)
.DEFAULT_GOAL := help

EVENT ?= events/health.json
HANDLER ?=
SWIFT_BUILD := swift build
RELEASE := swift build -c release --static-swift-stdlib

.PHONY: help deps build test package invoke run bench fuzz lint clean fresh-check

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

deps: ## Install missing Debian/PyPI packages (build and test)
	@scripts/dev/deps.sh all

build: ## Debug build of the apitap executable
	@scripts/dev/deps.sh build
	$(SWIFT_BUILD) --product apitap

package: ## Release build and .build/lambda/apitap.zip (bootstrap for provided.al2023)
	@scripts/dev/deps.sh build
	@scripts/package/package.sh

test: ## Every test suite: Swift, the packaged zip (chroot, ministack), tick and audit export as processes, the deploy scripts (moto)
	@scripts/dev/deps.sh all
	@scripts/package/package.sh
	@scripts/dev/test.sh

fresh-check: ## make run and make test in a fresh Debian 12 root file system (debootstrap; root, network, ~40 min)
	@scripts/dev/fresh-check.sh

invoke: build ## Run one event locally: make invoke EVENT=events/health.json [HANDLER=health]
	$$($(SWIFT_BUILD) --show-bin-path)/apitap invoke --event $(EVENT) $(if $(HANDLER),--handler $(HANDLER))

run: build ## The tick, locally, against moto seeded with sample API Gateway logs (no AWS account)
	@scripts/dev/deps.sh run
	@scripts/dev/run-local.sh

bench: package ## Benchmarks, about 8 minutes (figures recorded in docs/benchmarks.md)
	@scripts/dev/deps.sh all
	$(RELEASE) --product apitap-bench
	$$($(RELEASE) --show-bin-path)/apitap-bench stitch runtime package
	$$($(RELEASE) --show-bin-path)/apitap-bench stitch-process --apitap=$$($(RELEASE) --show-bin-path)/apitap
	$$($(RELEASE) --show-bin-path)/apitap-bench flex flex-process --apitap=$$($(RELEASE) --show-bin-path)/apitap
	$$($(RELEASE) --show-bin-path)/apitap-bench tick
	$$($(RELEASE) --show-bin-path)/apitap-bench awslogs
	$$($(RELEASE) --show-bin-path)/apitap-bench audit
	$$($(RELEASE) --show-bin-path)/apitap-bench audit-pacer
	$$($(RELEASE) --show-bin-path)/apitap-bench posture

fuzz: ## libFuzzer over stitch, events and settings for FUZZ_SECONDS (default 600; make test runs 60)
	@scripts/dev/deps.sh build
	Tests/Fuzz/run.sh $(or $(FUZZ_SECONDS),600)

lint: ## shellcheck, cfn-lint, and no Foundation in product code
	@scripts/dev/deps.sh all
	shellcheck -x scripts/*.sh scripts/lib/*.sh scripts/dev/*.sh scripts/package/*.sh Tests/lib.sh Tests/*/*.sh Tests/scripts/cases/*.sh
	cfn-lint --include-checks I -- $$(for t in template/*.json; do jq -e 'has("Resources")' $$t >/dev/null 2>&1 && echo $$t; done)
	@! grep -rn '^import Foundation$$' Sources || { echo "product code must not import Foundation (use FoundationEssentials at most)"; exit 1; }

clean: ## Remove build output
	rm -rf .build .build-* .build_*
