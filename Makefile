# oti-agent: two commands do all the set-up on a fresh Debian machine (as root).
#   make demo   installs, then runs the daemon on a simulated datacenter on loopback
#   make test   installs what the tests need, then runs them
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# Debian packages: the real peers the tests and the demo talk to, and Pango (WeasyPrint PDFs).
DEBS   := snmpd snmp snmpsim openssh-server prometheus prometheus-snmp-exporter prometheus-alertmanager iproute2 \
          procps openipmi ipmitool bacula-director-sqlite3 bacula-sd bacula-fd bacula-console postgresql \
          libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core poppler-utils
STAMP  := $(VENV)/.installed

.PHONY: demo test deps venv bench clean

demo: deps venv
	$(VENV)/bin/oti-agent demo

test: deps venv
	$(VENV)/bin/pytest -q

bench: deps venv
	$(PY) bench/snmp_poll.py

# Install the Debian packages only when one is missing (apt never starts their services here).
deps:
	@missing=""; for p in $(DEBS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) var build *.egg-info .pytest_cache
