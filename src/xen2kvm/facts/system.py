"""System facts: which distribution, which init system, which systemd, SELinux.

Read from files only (os-release and the older release files, the init binary's symlink, package
databases that are plain text), never by running anything from the guest.
"""

from __future__ import annotations

import enum
import posixpath
import re
from dataclasses import dataclass, field

from xen2kvm.distros import UNKNOWN, DistroFamily, family_by_name, family_for
from xen2kvm.errors import GuestPathError, ParseError
from xen2kvm.facts._reader import FactReader
from xen2kvm.guest.base import FileKind, Guest
from xen2kvm.parsers import shellvars

#: dpkg's status file lists every package; a big server's is tens of MB.
DPKG_STATUS_LIMIT = 64 * 1024 * 1024
#: The systemd binary is 1-2 MB; anything far larger is not it.
SYSTEMD_BINARY_LIMIT = 32 * 1024 * 1024


class InitSystem(enum.Enum):
    SYSTEMD = "systemd"
    UPSTART = "upstart"
    SYSVINIT = "sysvinit"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class SystemFacts:
    """What the guest is. ``os_found`` is False for a tree that holds no Linux system."""

    #: True when the tree looks like a Linux system (an /etc with a release file or an init).
    os_found: bool
    #: Distro family name (see :mod:`xen2kvm.distros`): debian, ubuntu, rhel, fedora, arch,
    #: suse or unknown.
    family: str
    #: os-release style ID: debian, ubuntu, centos, rhel, rocky, almalinux, ol, scientific,
    #: fedora, arch, opensuse-leap, opensuse, sles, ... ("" if unknown).
    distro_id: str
    #: Version as precise as the release files give it: "7.11", "22.04", "7.9.2009", "15.5".
    version: str
    version_major: int | None
    version_minor: int | None
    #: Human name, e.g. "Debian GNU/Linux 12 (bookworm)".
    name: str
    codename: str | None
    #: Release files that were found and read, in the order they were used.
    release_files: list[str] = field(default_factory=list)
    init: InitSystem = InitSystem.UNKNOWN
    #: Why ``init`` was decided, e.g. "/sbin/init -> /lib/systemd/systemd".
    init_evidence: str = ""
    #: Version of the installed systemd (the number before any dot), None if not found.
    systemd_version: int | None = None
    #: Where the systemd version came from.
    systemd_version_source: str | None = None
    #: SELINUX= from /etc/selinux/config (enforcing, permissive, disabled), None if absent.
    selinux_mode: str | None = None
    #: Files we could not read (loops, FIFOs, devices, too large), one line each.
    problems: list[str] = field(default_factory=list)

    @property
    def selinux_enabled(self) -> bool:
        """SELinux labels are in use, so offline edits need ``/.autorelabel``."""
        return self.selinux_mode in ("enforcing", "permissive")

    @property
    def distro_family(self) -> DistroFamily:
        return family_by_name(self.family)


@dataclass
class _Release:
    distro_id: str = ""
    id_like: tuple[str, ...] = ()
    version: str = ""
    name: str = ""
    codename: str | None = None
    files: list[str] = field(default_factory=list)


def gather_system(guest: Guest) -> SystemFacts:
    """Distro, init system, systemd version and SELinux mode of ``guest``. Never raises for
    the guest's content: unreadable files are listed in ``problems``."""
    rd = FactReader(guest)
    rel = _read_release(rd)
    family = family_for(rel.distro_id, rel.id_like) if rel.distro_id else UNKNOWN
    if family is UNKNOWN and rel.id_like:
        family = family_for(None, rel.id_like)
    init, evidence = _detect_init(rd)
    sd_version, sd_source = _systemd_version(rd)
    selinux = _selinux_mode(rd)
    major, minor = _split_version(rel.version)
    os_found = rd.is_dir("/etc") and (bool(rel.files) or init is not InitSystem.UNKNOWN)
    return SystemFacts(
        os_found=os_found,
        family=family.name,
        distro_id=rel.distro_id,
        version=rel.version,
        version_major=major,
        version_minor=minor,
        name=rel.name,
        codename=rel.codename,
        release_files=rel.files,
        init=init,
        init_evidence=evidence,
        systemd_version=sd_version,
        systemd_version_source=sd_source,
        selinux_mode=selinux,
        problems=rd.problems,
    )


# --- distribution -----------------------------------------------------------------------------


def _shellvars(rd: FactReader, path: str) -> dict[str, str] | None:
    text = rd.text(path)
    if text is None:
        return None
    try:
        return shellvars.parse(text, path).as_dict()
    except ParseError as err:
        rd.problem(str(err))
        return None


def _read_release(rd: FactReader) -> _Release:
    rel = _Release()
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        osr = _shellvars(rd, path)
        if osr is not None and osr.get("ID"):
            rel.files.append(path)
            rel.distro_id = osr["ID"].strip().lower()
            rel.id_like = tuple(osr.get("ID_LIKE", "").lower().split())
            rel.version = osr.get("VERSION_ID", "").strip()
            rel.name = osr.get("PRETTY_NAME") or osr.get("NAME", "")
            rel.codename = osr.get("VERSION_CODENAME") or osr.get("UBUNTU_CODENAME") or None
            if rel.codename is None:
                # Debian 7/8 and CentOS 7 say it only in VERSION: "7 (wheezy)", "7 (Core)".
                m = re.search(r"\(([^)]+)\)", osr.get("VERSION", ""))
                if m and rel.distro_id in ("debian", "ubuntu"):
                    rel.codename = m.group(1).split(",")[0].strip().lower()
            break
    # Ubuntu also ships /etc/debian_version ("wheezy/sid"), so lsb-release is asked first.
    _refine_lsb(rd, rel)
    _refine_debian(rd, rel)
    _refine_redhat(rd, rel)
    _refine_suse(rd, rel)
    if rel.distro_id in ("", "arch") and rd.lexists("/etc/arch-release"):
        rel.files.append("/etc/arch-release")
        rel.distro_id = "arch"
        rel.name = rel.name or "Arch Linux"
    return rel


def _refine_debian(rd: FactReader, rel: _Release) -> None:
    if rel.distro_id not in ("", "debian"):
        return
    text = rd.text("/etc/debian_version")
    if text is None:
        return
    dv = text.strip()
    rel.files.append("/etc/debian_version")
    rel.distro_id = "debian"
    if re.fullmatch(r"\d+(\.\d+)*", dv):
        # "7.11" is more precise than os-release's VERSION_ID="7".
        if not rel.version or dv.split(".")[0] == rel.version.split(".")[0]:
            rel.version = dv
    elif not rel.version:
        rel.version = dv  # testing/unstable: "trixie/sid"
    if not rel.name:
        rel.name = f"Debian GNU/Linux {dv}"


def _refine_lsb(rd: FactReader, rel: _Release) -> None:
    if rel.distro_id not in ("", "ubuntu"):
        return
    lsb = _shellvars(rd, "/etc/lsb-release")
    if lsb is None or lsb.get("DISTRIB_ID", "").lower() != "ubuntu":
        return
    rel.files.append("/etc/lsb-release")
    rel.distro_id = "ubuntu"
    rel.version = rel.version or lsb.get("DISTRIB_RELEASE", "")
    rel.codename = rel.codename or lsb.get("DISTRIB_CODENAME") or None
    rel.name = rel.name or lsb.get("DISTRIB_DESCRIPTION", "")


# "CentOS release 6.10 (Final)", "CentOS Linux release 7.9.2009 (Core)",
# "Red Hat Enterprise Linux Server release 5.11 (Tikanga)", "Fedora release 39 (Thirty Nine)",
# "Rocky Linux release 9.3 (Blue Onyx)", "Scientific Linux release 6.10 (Carbon)".
_REDHAT_RE = re.compile(
    r"^(?P<name>.*?)\s+release\s+(?P<version>[\d.]+)(?:\s*\((?P<code>[^)]*)\))?"
)
_REDHAT_IDS = (
    ("centos stream", "centos"),
    ("centos", "centos"),
    ("rocky", "rocky"),
    ("almalinux", "almalinux"),
    ("oracle", "ol"),
    ("scientific", "scientific"),
    ("cloudlinux", "cloudlinux"),
    ("fedora", "fedora"),
    ("red hat", "rhel"),
)
_REDHAT_FILES = (
    "/etc/centos-release",
    "/etc/rocky-release",
    "/etc/almalinux-release",
    "/etc/oracle-release",
    "/etc/sl-release",
    "/etc/fedora-release",
    "/etc/redhat-release",
    "/etc/system-release",
)


def _refine_redhat(rd: FactReader, rel: _Release) -> None:
    if rel.distro_id and family_for(rel.distro_id, rel.id_like).name not in ("rhel", "fedora"):
        return
    for path in _REDHAT_FILES:
        text = rd.text(path)
        if not text:
            continue
        first = text.strip().splitlines()[0] if text.strip() else ""
        m = _REDHAT_RE.match(first)
        if m is None:
            continue
        lowered = m.group("name").lower()
        distro_id = next((i for key, i in _REDHAT_IDS if key in lowered), "rhel")
        if rel.distro_id and distro_id != rel.distro_id:
            # Oracle Linux's /etc/redhat-release claims RHEL; trust os-release's ID.
            continue
        rel.files.append(path)
        rel.distro_id = distro_id
        version = m.group("version")
        # "7.9.2009" is more precise than os-release's VERSION_ID="7" (same major only).
        same_major = version.split(".")[0] == rel.version.split(".")[0]
        if not rel.version or (same_major and len(version) >= len(rel.version)):
            rel.version = version
        rel.name = rel.name or first
        if rel.codename is None and m.group("code"):
            rel.codename = m.group("code")
        return


def _refine_suse(rd: FactReader, rel: _Release) -> None:
    if rel.distro_id and family_for(rel.distro_id, rel.id_like).name != "suse":
        return
    text = rd.text("/etc/SuSE-release")
    if text is None:
        return
    lines = text.strip().splitlines()
    if not lines:
        return
    rel.files.append("/etc/SuSE-release")
    # "openSUSE 13.1 (x86_64)" / "SUSE Linux Enterprise Server 11 (x86_64)", then
    # "VERSION = 13.1", "PATCHLEVEL = 4", "CODENAME = Bottle".
    kv: dict[str, str] = {}
    for line in lines[1:]:
        key, sep, value = line.partition("=")
        if sep:
            kv[key.strip().upper()] = value.strip()
    if not rel.distro_id:
        rel.distro_id = "sles" if "enterprise" in lines[0].lower() else "opensuse"
        rel.name = re.sub(r"\s*\([^)]*\)\s*$", "", lines[0].strip())
    if not rel.version:
        version = kv.get("VERSION", "")
        if kv.get("PATCHLEVEL") and "." not in version:
            version = f"{version}.{kv['PATCHLEVEL']}"
        rel.version = version
    if rel.codename is None and kv.get("CODENAME"):
        rel.codename = kv["CODENAME"]


def _split_version(version: str) -> tuple[int | None, int | None]:
    m = re.match(r"(\d+)(?:\.(\d+))?", version)
    if m is None:
        return None, None
    return int(m.group(1)), int(m.group(2)) if m.group(2) is not None else None


# --- init system ------------------------------------------------------------------------------

_SYSTEMD_BINARIES = ("/lib/systemd/systemd", "/usr/lib/systemd/systemd")


def _detect_init(rd: FactReader) -> tuple[InitSystem, str]:
    st = rd.lstat("/sbin/init")
    if st is not None and st.kind is FileKind.SYMLINK:
        stored = rd.readlink("/sbin/init") or ""
        # A dangling link still names its init (the binary may sit on an unmounted /usr).
        target = rd.realpath("/sbin/init") or stored
        if posixpath.basename(target) == "systemd":
            return InitSystem.SYSTEMD, f"/sbin/init -> {stored}"
        if posixpath.basename(target) == "upstart":
            return InitSystem.UPSTART, f"/sbin/init -> {stored}"
    # A regular /sbin/init is upstart's or sysvinit's binary; which one is told by the
    # configuration each needs (upstart also reads /etc/inittab for the default runlevel).
    if rd.exists("/sbin/initctl") and rd.files("/etc/init", ".conf"):
        return InitSystem.UPSTART, "/sbin/initctl and /etc/init/*.conf"
    inittab = rd.text("/etc/inittab")
    has_default = inittab is not None and re.search(
        r"^[^#:\n]*:[^:\n]*:initdefault:", inittab, re.M
    )
    if has_default and (st is not None or not any(rd.exists(p) for p in _SYSTEMD_BINARIES)):
        return InitSystem.SYSVINIT, "/etc/inittab with initdefault"
    for path in _SYSTEMD_BINARIES:
        if rd.is_file(path):
            return InitSystem.SYSTEMD, f"{path} present and no other init"
    return InitSystem.UNKNOWN, "no init found"


# --- systemd version --------------------------------------------------------------------------

_SHARED_LIB_RE = re.compile(r"^libsystemd-shared-(\d+)(?:[.~-][^/]*)?\.so$")
_VERSIONED_DIR_RE = re.compile(r"^systemd-(\d+)(?:[.-].*)?$")
_SHARED_LIB_DIRS = (
    "/usr/lib/systemd",
    "/lib/systemd",
    "/usr/lib64/systemd",
    "/usr/lib/x86_64-linux-gnu/systemd",
)


def _systemd_version(rd: FactReader) -> tuple[int | None, str | None]:
    found = _from_dpkg(rd)
    if found is not None:
        return found
    # Arch: /var/lib/pacman/local/systemd-254.5-1/desc
    for name in rd.listdir("/var/lib/pacman/local"):
        m = re.fullmatch(r"systemd-(\d+)(?:\.[\w.]*)?-\d+", name)
        if m and rd.exists(f"/var/lib/pacman/local/{name}/desc"):
            return int(m.group(1)), f"/var/lib/pacman/local/{name}/desc"
    # The rpm database can't be read without running code; systemd >= 231 names its private
    # library after its version, on every distro.
    for directory in _SHARED_LIB_DIRS:
        for name in rd.listdir(directory):
            m = _SHARED_LIB_RE.match(name)
            if m:
                return int(m.group(1)), f"{directory}/{name}"
    # RHEL 7 (systemd 219) installs versioned license and doc directories.
    for directory in ("/usr/share/licenses", "/usr/share/doc", "/usr/share/doc/packages"):
        for name in rd.listdir(directory):
            m = _VERSIONED_DIR_RE.match(name)
            if m:
                return int(m.group(1)), f"{directory}/{name}"
    # Older systemd (e.g. 208 on openSUSE 13.1) shows its version only in its own banner,
    # "systemd 208 running in %ssystem mode", a string constant in the binary. Read as data.
    for path in _SYSTEMD_BINARIES:
        data = _read_binary(rd, path)
        if data is not None:
            banner = re.search(rb"systemd (\d{2,4})[^\x00 ]* running in ", data)
            if banner:
                return int(banner.group(1)), path
    return None, None


def _read_binary(rd: FactReader, path: str) -> bytes | None:
    if not rd.is_file(path):
        return None
    try:
        return rd.guest.read_bytes(path, limit=SYSTEMD_BINARY_LIMIT)
    except GuestPathError as err:
        rd.problem(str(err))
        return None


def _from_dpkg(rd: FactReader) -> tuple[int, str] | None:
    status = rd.text("/var/lib/dpkg/status", limit=DPKG_STATUS_LIMIT)
    if status is None:
        return None
    for stanza in re.split(r"\n\s*\n", status):
        if not re.search(r"^Package: systemd[ \t]*$", stanza, re.M):
            continue
        st = re.search(r"^Status: (.*)$", stanza, re.M)
        if st is None or not st.group(1).strip().endswith(" installed"):
            continue
        ver = re.search(r"^Version: (?:\d+:)?(\d+)", stanza, re.M)
        if ver:
            return int(ver.group(1)), "/var/lib/dpkg/status"
    return None


# --- SELinux ----------------------------------------------------------------------------------


def _selinux_mode(rd: FactReader) -> str | None:
    cfg = _shellvars(rd, "/etc/selinux/config")
    if cfg is None:
        return None
    mode = cfg.get("SELINUX", "").strip().lower()
    return mode or None
