"""The office's directory as the source of passwords and roles, against a real slapd on loopback.

One slapd serves the session (the `slapd` fixture): ldaps:// and ldap:// with StartTLS, a certificate
signed by a CA of its own, the memberof overlay on dc=entidad and none on dc=archivo (where roles are
found by searching the groups). What is checked is what the office would: the right password gives
the person with name, e-mail and roles; anything else gives nothing, and never says which; a
directory that cannot be asked says so, naming it, and never shows a password.
"""

from __future__ import annotations

import socket
import time

import pytest

from agent.core.people import DirectorySection
from agent.errors import ConfigError, DirectoryUnavailable
from agent.people.directory import Directory
from tests.peers.common import free_tcp_port

ROLES = {"jefa", "especialista_is"}


def _group_roles(base: str) -> dict[str, str]:
    # one group by its DN in another case, two by their cn; 'biblioteca' is mapped to nothing
    return {f"CN=Jefatura-OTI,OU=Groups,{base.upper()}": "jefa", "gerencia-general": "gg",
            "especialistas-is": "especialista_is"}


def _section(slapd, tmp_path, mode: str = "search", transport: str = "ldaps", base: str | None = None,
             **over) -> DirectorySection:
    base = base or slapd.base_dn
    secret = tmp_path / "directory.secret"
    secret.write_text(slapd.service_password + "\n")
    fields = {"url": slapd.url_ldaps if transport == "ldaps" else slapd.url_ldap,
              "start_tls": transport == "starttls", "ca_file": slapd.ca_file,
              "group_roles": _group_roles(base), "group_base": slapd.groups_dn(base), "timeout": 3}
    if mode == "direct":
        fields["user_dn"] = f"uid={{login}},{slapd.people_dn(base)}"
    else:
        fields.update(search_base=base, bind_dn=slapd.service_dn(base), bind_password="file:directory.secret")
    return DirectorySection.model_validate({**fields, **over})


def _directory(slapd, tmp_path, *args, **kw) -> Directory:
    return Directory(_section(slapd, tmp_path, *args, **kw), tmp_path)


WAYS = [("search", "ldaps"), ("direct", "starttls"), ("search", "starttls"), ("direct", "ldaps")]


@pytest.mark.parametrize(("mode", "transport"), WAYS)
def test_the_right_password_gives_the_person_with_name_email_and_roles_from_groups(slapd, tmp_path, mode,
                                                                                  transport):
    directory = _directory(slapd, tmp_path, mode, transport)
    entry = directory.authenticate("mrojas", slapd.users["mrojas"])
    assert entry is not None
    assert (entry.login, entry.name, entry.email) == ("mrojas", "María Rojas", "mrojas@entidad.gob.pe")
    assert entry.dn == f"uid=mrojas,{slapd.people_dn()}"
    assert entry.roles == {"jefa", "especialista_is"}
    assert directory.authenticate("agarcia", slapd.users["agarcia"]).roles == {"gg"}   # a space in it


@pytest.mark.parametrize("mode", ["search", "direct"])
def test_without_memberof_the_roles_come_from_a_search_of_the_groups(slapd, tmp_path, mode):
    directory = _directory(slapd, tmp_path, mode, "starttls", base=slapd.plain_base_dn)
    entry = directory.authenticate("mrojas", slapd.users["mrojas"])
    assert entry.dn.endswith(slapd.plain_base_dn)
    assert entry.roles == {"jefa", "especialista_is"}
    # no memberOf and no group_base: the directory gives no roles, the password is still right
    bare = _directory(slapd, tmp_path, mode, "starttls", base=slapd.plain_base_dn, group_base=None)
    assert bare.authenticate("mrojas", slapd.users["mrojas"]).roles == frozenset()


@pytest.mark.parametrize("mode", ["search", "direct"])
def test_a_wrong_password_and_an_unknown_login_give_the_same_nothing(slapd, tmp_path, mode):
    directory = _directory(slapd, tmp_path, mode)
    assert directory.authenticate("mrojas", "not-her-password") is None
    assert directory.authenticate("mrojas", slapd.users["agarcia"]) is None        # another person's
    assert directory.authenticate("nadie", slapd.users["mrojas"]) is None
    assert directory.authenticate("ctorres", slapd.users["ctorres"]) is not None   # the directory is fine


@pytest.mark.parametrize("mode", ["search", "direct"])
def test_an_empty_password_is_never_an_anonymous_login(slapd, tmp_path, mode):
    directory = _directory(slapd, tmp_path, mode)
    for login in ("mrojas", "nadie", ""):
        assert directory.authenticate(login, "") is None


@pytest.mark.parametrize("mode", ["search", "direct"])
@pytest.mark.parametrize("login", ["*", "mrojas)(uid=*", "x)(uid=*", "*)(|(uid=*", "mrojas,ou=people",
                                   "mrojas\\2a", "mrojas\x00", "(uid=mrojas)", "mrojas)(objectClass=*"])
def test_a_login_that_is_a_filter_or_dn_injection_matches_nobody(slapd, tmp_path, mode, login):
    directory = _directory(slapd, tmp_path, mode)
    assert directory.authenticate(login, slapd.users["mrojas"]) is None


def test_a_login_is_taken_in_any_case_and_without_surrounding_spaces(slapd, tmp_path):
    entry = _directory(slapd, tmp_path).authenticate("  MRojas ", slapd.users["mrojas"])
    assert entry is not None and entry.login == "mrojas"


@pytest.mark.parametrize("mode", ["search", "direct"])
def test_a_person_in_no_mapped_group_is_known_but_holds_no_role(slapd, tmp_path, mode):
    directory = _directory(slapd, tmp_path, mode)
    nobody = directory.authenticate("ctorres", slapd.users["ctorres"])
    assert (nobody.name, nobody.email, nobody.roles) == ("Carlos Torres", None, frozenset())
    # lquispe is also in 'biblioteca', which the office maps to no role
    assert directory.authenticate("lquispe", slapd.users["lquispe"]).roles == {"especialista_is"}


def test_holders_lists_the_members_of_the_groups_mapped_to_a_role(slapd, tmp_path):
    directory = _directory(slapd, tmp_path)
    [maria] = directory.holders("jefa")                          # the group named by its DN
    assert (maria.login, maria.name, maria.email) == ("mrojas", "María Rojas", "mrojas@entidad.gob.pe")
    assert maria.roles == {"jefa", "especialista_is"}
    assert sorted(e.login for e in directory.holders("especialista_is")) == ["lquispe", "mrojas"]   # by cn
    assert [e.name for e in directory.holders("gg")] == ["Ana García"]
    assert directory.holders("especialista_bd") == []


def test_holders_works_without_memberof_too(slapd, tmp_path):
    directory = _directory(slapd, tmp_path, base=slapd.plain_base_dn)
    [maria] = directory.holders("jefa")
    assert maria.dn.endswith(slapd.plain_base_dn) and maria.roles == {"jefa", "especialista_is"}


def test_holders_needs_the_service_account_and_a_group_base_for_a_group_named_by_cn(slapd, tmp_path):
    with pytest.raises(ConfigError, match="bind_dn"):
        _directory(slapd, tmp_path, "direct").holders("jefa")
    with pytest.raises(ConfigError, match="group_base"):
        _directory(slapd, tmp_path, group_base=None).holders("gg")


@pytest.mark.parametrize("transport", ["ldaps", "starttls"])
def test_a_directory_that_is_down_is_unavailable_naming_it_and_not_the_password(slapd, tmp_path, transport):
    scheme = "ldaps" if transport == "ldaps" else "ldap"
    url = f"{scheme}://127.0.0.1:{free_tcp_port()}"           # nobody listens there
    for mode in ("search", "direct"):
        directory = _directory(slapd, tmp_path, mode, transport, url=url)
        with pytest.raises(DirectoryUnavailable) as caught:
            directory.authenticate("mrojas", slapd.users["mrojas"])
        message = str(caught.value)
        assert url in message and "refused" in message and "people.directory.url" in message
        assert slapd.users["mrojas"] not in message and slapd.service_password not in message
    with pytest.raises(DirectoryUnavailable, match=url):
        _directory(slapd, tmp_path, "search", transport, url=url).holders("jefa")


@pytest.mark.parametrize("transport", ["ldaps", "starttls"])
def test_a_certificate_the_given_ca_did_not_sign_is_refused(slapd, tmp_path, transport):
    directory = _directory(slapd, tmp_path, "direct", transport, ca_file=slapd.other_ca_file)
    with pytest.raises(DirectoryUnavailable) as caught:
        directory.authenticate("mrojas", slapd.users["mrojas"])
    message = str(caught.value)
    assert "certificate" in message and str(slapd.other_ca_file) in message and "ca_file" in message
    assert slapd.users["mrojas"] not in message


def test_the_certificate_names_localhost_too(slapd, tmp_path):
    url = slapd.url_ldaps.replace("127.0.0.1", "localhost")
    entry = _directory(slapd, tmp_path, url=url).authenticate("mrojas", slapd.users["mrojas"])
    assert entry is not None and entry.roles == ROLES


def test_a_service_account_the_directory_refuses_is_not_the_persons_fault(slapd, tmp_path):
    section = _section(slapd, tmp_path)
    (tmp_path / "directory.secret").write_text("not-the-service-password\n")
    with pytest.raises(DirectoryUnavailable) as caught:
        Directory(section, tmp_path).authenticate("mrojas", slapd.users["mrojas"])
    message = str(caught.value)
    assert slapd.service_dn() in message and "bind_password" in message
    assert "not-the-service-password" not in message and slapd.users["mrojas"] not in message


def test_a_missing_ca_file_is_a_config_error_naming_it(slapd, tmp_path):
    with pytest.raises(ConfigError, match="ca_file: .*no-such-ca.pem"):
        _directory(slapd, tmp_path, ca_file="no-such-ca.pem")


@pytest.mark.parametrize("transport", ["ldaps", "starttls"])
def test_a_directory_that_accepts_but_never_answers_costs_its_timeout_and_says_so(slapd, tmp_path, transport):
    with socket.socket() as mute:                  # the kernel accepts; nobody ever reads nor writes
        mute.bind(("127.0.0.1", 0))
        mute.listen(8)
        url = f"{'ldaps' if transport == 'ldaps' else 'ldap'}://127.0.0.1:{mute.getsockname()[1]}"
        directory = _directory(slapd, tmp_path, "direct", transport, url=url, timeout=1)
        started = time.monotonic()
        with pytest.raises(DirectoryUnavailable, match="no answer within 1s") as caught:
            directory.authenticate("mrojas", slapd.users["mrojas"])
    assert time.monotonic() - started < 10
    assert url in str(caught.value) and slapd.users["mrojas"] not in str(caught.value)


def test_ldaps_to_the_plain_port_is_a_failed_handshake_not_a_wrong_password(slapd, tmp_path):
    url = slapd.url_ldap.replace("ldap://", "ldaps://")
    with pytest.raises(DirectoryUnavailable, match="TLS handshake failed") as caught:
        _directory(slapd, tmp_path, url=url).authenticate("mrojas", slapd.users["mrojas"])
    assert url in str(caught.value)
