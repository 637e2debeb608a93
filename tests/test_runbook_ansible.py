"""The `ansible` step: a playbook through ansible-runner on the step's targets, with the same inventory."""

from __future__ import annotations

import yaml

from tests.conftest import REPO


def test_ansible_step_runs_a_playbook_on_the_targets(datacenter, snmpsim, smtp, tmp_path, agentd):
    dc = datacenter
    dc.all_on()
    config = dc.write_config(tmp_path, snmpsim.port, smtp[0])
    data = yaml.safe_load(config.read_text())
    data["runbooks_dir"] = str(REPO / "tests" / "fixtures" / "runbooks")
    config.write_text(yaml.safe_dump(data))
    marks = tmp_path / "marks"
    marks.mkdir()
    marks.chmod(0o777)
    book = REPO / "tests" / "fixtures" / "runbooks" / "ansible-marca.yaml"
    text = book.read_text().replace("extravars: {marca: hola}", f"extravars: {{marca: hola, mark_dir: {marks}}}")
    local = tmp_path / "ansible-marca.yaml"
    local.write_text(text)
    data["runbooks_dir"] = str(tmp_path)
    config.write_text(yaml.safe_dump(data))
    (tmp_path / "marca.yml").write_text((REPO / "tests" / "fixtures" / "runbooks" / "marca.yml").read_text())
    daemon = agentd(config)                                    # the daemon carries the run out; `run` follows it
    out = daemon.cli("run", "ansible-marca", timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:] + daemon.tail()
    written = sorted(p.stem for p in marks.glob("*.mark"))
    assert written == ["vm-alfresco", "vm-app", "vm-intranet"]
    assert (marks / "vm-app.mark").read_text().startswith("hola ")
