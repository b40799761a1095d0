# The two commands of a fresh machine:  make demo   and   make test
# Everything installs into .venv from PyPI; nothing else is downloaded.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

SAM_VENV  := .venv-sam
SAM       := $(SAM_VENV)/bin/sam
SAM_STAMP := $(SAM_VENV)/.installed
NODE_STAMP := node_modules/.installed
CHECKOV_VENV  := .venv-checkov
CHECKOV       := $(CHECKOV_VENV)/bin/checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
# cfn-lint, pinned (an older one fails python3.11 with its 2026 deprecation dates, a newer one may add rules): bump on purpose
CFNLINT_VERSION := 1.58.0
CFNLINT_VENV  := .venv-cfnlint
CFNLINT       := $(CFNLINT_VENV)/bin/cfn-lint
CFNLINT_STAMP := $(CFNLINT_VENV)/.installed-$(CFNLINT_VERSION)
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: smoke install demo test lint validate bench clean system-deps screenshots

# Debian packages the tests need: a real browser (headless Chromium and its driver) for the report pages,
# poppler-utils (pdfsig, pdftoppm) for the printed lists, NSS's certutil (libnss3-tools) for the trust database pdfsig
# reads, a JDK and Bouncy Castle (libbcpkix-java) as an outside CMS verifier, and a CJK font so Chinese renders. Installed once.
SYSTEM_TOOLS := chromium chromedriver pdfsig pdftoppm certutil javac
system-deps:
	@missing=""; for t in $(SYSTEM_TOOLS); do command -v $$t >/dev/null 2>&1 || missing="$$missing $$t"; done; \
	  fc-list 2>/dev/null | grep -q "Noto Sans CJK" || missing="$$missing fonts-noto-cjk"; \
	  test -f /usr/share/java/bcpkix.jar || missing="$$missing libbcpkix-java"; \
	  if [ -n "$$missing" ]; then \
	    echo "installing Debian packages for:$$missing"; \
	    $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends \
	      chromium chromium-driver poppler-utils libnss3-tools fonts-noto-cjk default-jdk-headless libbcpkix-java >/dev/null && echo "system tools: installed"; \
	  else echo "system tools: chromium, chromedriver, pdfsig, pdftoppm, certutil, a JDK, Bouncy Castle and Noto Sans CJK present"; fi
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# The library (also the Lambda layer) and, apart from it, the development tools (local cloud, demo, samples).
$(STAMP): layers/earchive/pyproject.toml devtools/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e "layers/earchive[dev]" -e devtools
	touch $(STAMP)

# SAM CLI pins its own boto3, so it lives in its own venv.
$(SAM_STAMP):
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/pip install --quiet "aws-sam-cli>=1.120"
	touch $(SAM_STAMP)

# checkov (an independent IaC scanner) pins its own libraries, so it lives in its own venv too.
$(CHECKOV_STAMP):
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet "checkov>=3.2,<4"
	touch $(CHECKOV_STAMP)

# cfn-lint in its own venv too, at the pinned version.
$(CFNLINT_STAMP):
	$(PYTHON) -m venv $(CFNLINT_VENV)
	$(CFNLINT_VENV)/bin/pip install --quiet --upgrade pip
	$(CFNLINT_VENV)/bin/pip install --quiet "cfn-lint==$(CFNLINT_VERSION)"
	touch $(CFNLINT_STAMP)

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

install: $(STAMP)

## the main job on the local default: the local cloud (template.yaml + the real state machines on moto), a dozen
## cases archived or rejected, then the transfer loop; `earchive demo --offline` is pack → verify without a cloud
demo: $(STAMP)
	$(BIN)/earchive demo --out out/demo

## every test: lint, template and state machine validation, then pytest
test: $(STAMP) system-deps validate
	$(BIN)/ruff check .
	$(BIN)/pytest

## the SAM template (translator, cfn-lint, checkov) and the ASL (asl-validator)
validate: $(SAM_STAMP) $(NODE_STAMP) $(CHECKOV_STAMP) $(CFNLINT_STAMP)
	$(SAM) validate --template-file template.yaml
	@# the pinned cfn-lint, for the global region and both China regions (a resource type or runtime missing there fails);
	@# every ignore is in the template beside the resource, with its reason
	$(CFNLINT) --regions us-east-1 cn-north-1 cn-northwest-1 -- template.yaml replica.yaml
	$(CHECKOV) -f template.yaml -f replica.yaml --framework cloudformation --compact --quiet --skip-download  # offline; no failed check unless skipped in the template, with its reason
	@# the ASL as Step Functions receives it in each partition (DefinitionSubstitutions: ${Partition} is aws or aws-cn)
	@mkdir -p .aws-sam/asl && for p in aws aws-cn; do for m in archive transfer reply; do sed "s/\$${Partition}/$$p/g" statemachine/$$m.asl.json > .aws-sam/asl/$$m-$$p.json; done; done
	npx --no-install asl-validator $(foreach p,aws aws-cn,$(foreach m,archive transfer reply,--json-path .aws-sam/asl/$(m)-$(p).json))
	@# the layer: layers/earchive/Makefile (pip, manylinux2014 wheels for CPython 3.11); --cached reuses it while its sources
	@# (requirements.txt, the Makefile, earchive/) are unchanged; tests/contract/test_built_layer.py imports everything from it
	$(SAM) build --cached --cache-dir .aws-sam/cache --template-file template.yaml --build-dir .aws-sam/build > .aws-sam-build.log 2>&1 || (cat .aws-sam-build.log; exit 1)
	@test -d .aws-sam/build/EarchiveLayer/python/earchive/pipeline || (echo "the layer lacks earchive"; exit 1)
	@for d in earchive_devtools moto yaml; do test ! -e .aws-sam/build/EarchiveLayer/python/$$d || { echo "development tool $$d leaked into the Lambda layer"; exit 1; }; done
	@test "$$(find .aws-sam/build/EarchiveLayer -name '*.otf' | wc -l)" = 1 || { echo "the CJK font ships more (or less) than once"; exit 1; }
	@echo "sam build (no container): ok; the layer holds earchive, no development tools, one font: $$(du -sm --apparent-size .aws-sam/build/EarchiveLayer | cut -f1) MiB unzipped"

lint: $(STAMP)
	$(BIN)/ruff check .

## the report screenshots in docs/ (headless Chromium)
screenshots: $(STAMP) system-deps
	$(BIN)/python -m earchive_devtools.screenshots docs/screenshots

## a deployed stack exercised end to end, deploying nothing: make smoke STACK=earchive REGION=cn-north-1 ARGS="--institution …
## --desk … --trust … --accept-test-record" (README: the smoke test on a real account); without STACK, a fresh local cloud
smoke: $(STAMP)
	$(BIN)/python -m earchive_devtools.smoke $(if $(STACK),--stack $(STACK)) $(if $(REGION),--region $(REGION)) $(ARGS)

## speed and memory figures (not part of the tests): make bench (quick), make bench ARGS=--full (the issue's sizes)
bench: $(STAMP)
	$(BIN)/python bench/run.py $(ARGS)

clean:
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) $(CFNLINT_VENV) node_modules out .pytest_cache .ruff_cache .aws-sam
