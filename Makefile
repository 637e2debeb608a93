# oti-agent: two commands do all the set-up on a fresh Debian machine (as root).
#   make demo   installs, then runs the daemon on a simulated datacenter on loopback
#   make test   installs what the tests need, then runs them
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# Debian packages: the real peers the tests and the demo talk to, and Pango (WeasyPrint PDFs).
# tests/test_install.py fails naming any program the tests start whose package is not listed here.
DEBS   := snmpd snmp snmpsim openssh-server openssh-client prometheus prometheus-snmp-exporter \
          prometheus-alertmanager iproute2 procps openipmi ipmitool \
          bacula-director bacula-director-sqlite3 bacula-sd bacula-fd bacula-console \
          postgresql postgresql-15 postgresql-client-15 postgresql-client-common \
          libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core poppler-utils faketime \
          slapd ldap-utils openssl chromium chromium-driver nut-server bsdutils systemd
STAMP  := $(VENV)/.installed

.PHONY: demo test test-dates screenshots deps venv bench clean print-debs install-service

demo: deps venv
	$(VENV)/bin/oti-agent demo

test: deps venv
	$(VENV)/bin/pytest -q -n auto --maxprocesses 4 --dist loadfile

# The date-sensitive tests (reports, calendars, office hours) again at dates that broke such code
# elsewhere: a Lima midnight, the last day of a month at 23:30 Lima, New Year, Holy Thursday.
DATES  := 2027-03-01T05:00:00 2026-12-01T04:30:00 2027-01-01T12:00:00 2027-03-25T15:00:00
test-dates: deps venv
	@for d in $(DATES); do echo "== faketime $$d (UTC)"; \
	  TZ=UTC FAKETIME_DONT_RESET=1 faketime -f "@$$(echo $$d | tr T ' ')" $(VENV)/bin/pytest -q -m dates || exit 1; done

# The README's screenshots of the console (docs/capturas/), made by the browser test.
screenshots: deps venv
	OTI_SCREENSHOTS=docs/capturas $(VENV)/bin/pytest -q tests/test_console_browser.py

# The daemon as a systemd service (as root; `make test` never runs this): a venv in $(PREFIX), the unit,
# its user oti-agent (sysusers.d) and folders (tmpfiles.d). The config is yours to write, with absolute
# paths under /var/lib/oti-agent (README, "Running it as a service"); then `oti-agent doctor`.
PREFIX ?= /opt/oti-agent
install-service:
	$(PYTHON) -m venv $(PREFIX)
	$(PREFIX)/bin/pip install -q --upgrade pip
	$(PREFIX)/bin/pip install -q .
	install -m 0644 README.md $(PREFIX)/README.md
	install -D -m 0644 packaging/systemd/oti-agent.sysusers /usr/lib/sysusers.d/oti-agent.conf
	install -D -m 0644 packaging/systemd/oti-agent.tmpfiles /usr/lib/tmpfiles.d/oti-agent.conf
	sed 's#/opt/oti-agent#$(PREFIX)#g' packaging/systemd/oti-agent.service > /etc/systemd/system/oti-agent.service
	systemd-sysusers /usr/lib/sysusers.d/oti-agent.conf
	systemd-tmpfiles --create /usr/lib/tmpfiles.d/oti-agent.conf
	-systemctl daemon-reload
	@test -e /etc/oti-agent/config.yaml || echo "next: write /etc/oti-agent/config.yaml, then" \
	  "sudo -u oti-agent $(PREFIX)/bin/oti-agent doctor -c /etc/oti-agent/config.yaml"
	@echo "start it with: systemctl enable --now oti-agent"

print-debs:
	@echo $(DEBS)

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
