#!/usr/bin/env python3
"""No silent losses (issue 17): walk every golden input that converts and
list its source elements with a reader of its own (not the converter's);
every element outside what the converter maps must be named by a warning on
standard error.  What counts as mapped, per format, is the contract written
here and in ferry-converter(1):

  VMX      devices with <ns>.present = TRUE; mapped: disk slots (scsiN:M,
           sataN:M, ideN:M, nvmeN:M), floppyN, ethernetN, disk controllers,
           pciBridgeN, svga, vtpm, hpet0.  The nvram key.
  libvirt  children of <devices>; mapped: disk, interface, tpm, emulator,
           controller, graphics, video, memballoon, PS/2 input, the guest
           agent channel; a tablet input and a virtio rng are in the output
           or named.  Each disk is a DataVolume or named.  os/nvram.
  OVF      Items; mapped: ResourceType 3, 4, 5, 6, 7, 20, 24, NICs (10); disk,
           CD-ROM and floppy Items (14-17) become a DataVolume or are named.
           DiskSection Disks no Item attaches, References Files no Disk uses.
  oVirt    the above plus Items of Type sound, smartcard, redir, watchdog,
           console, serial, hostdev (a virtio rng is mapped).
  .vbox    enabled UART/LPT ports, an enabled AudioAdapter, SharedFolders,
           USB controllers and filters, NVRAM@path (in a VirtualBox OVF's
           vbox:Machine too, less the sound card and USB its Items have).
  xl.cfg   keys outside the mapped list below (usbdevice = "tablet" is the
           tablet input).

A failure names the case and the element.  Exit 77 without the converter.
"""
import os
import re
import shlex
import subprocess
import sys
import tarfile
import tempfile
import xml.etree.ElementTree as ET

BIN = os.environ.get("FERRY_BIN")
SRC = os.environ.get("FERRY_SRC")
if not BIN or not SRC:
    print("FERRY_BIN and FERRY_SRC must be set")
    sys.exit(77)
CONV = os.path.join(os.path.abspath(BIN), "ferry-converter")
if not os.access(CONV, os.X_OK):
    print(f"SKIP: {CONV} not built")
    sys.exit(77)
DIR = os.path.join(SRC, "tests", "golden", "convert")

XL_MAPPED = {
    "name", "uuid", "builder", "type", "memory", "vcpus", "viridian", "bios", "disk", "vif",
    "boot", "acpi", "apic", "pae", "hap", "device_model_version", "device_model_override",
    "on_poweroff", "on_reboot", "on_crash", "on_watchdog", "vnc", "vnclisten", "vncdisplay",
    "vncunused", "vncconsole", "sdl", "opengl", "stdvga", "vga", "videoram", "xen_platform_pci",
    "localtime", "rtc_timeoffset", "keymap", "cpu_weight", "cpu_cap", "seclabel", "nographic",
    "kernel", "ramdisk", "extra", "root", "cmdline", "bootloader", "bootloader_args",
    "shadow_memory", "timer_mode", "hpet", "nestedhvm", "nx", "pool", "tsc_mode",
    "driver_domain",
}
LIBVIRT_MAPPED = {"disk", "interface", "tpm", "emulator", "controller", "graphics", "video",
                  "memballoon"}
OVF_MAPPED = {3, 4, 5, 6, 7, 20, 24, 10}
OVIRT_NAMED_TYPES = {"sound", "smartcard", "redir", "watchdog", "console", "serial", "hostdev"}


def local(tag):
    return tag.rsplit("}", 1)[-1]


def attr(el, name):
    for k, v in el.attrib.items():
        if local(k) == name:
            return v
    return None


def child_text(el, name):
    for c in el:
        if local(c.tag) == name and c.text:
            return c.text.strip()
    return None


def truthy(v):
    return v is not None and v.strip().lower() in ("true", "yes", "1", "on")


def vmx_elements(text):
    keys = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        k, v = line.split("=", 1)
        keys[k.strip().lower()] = v.strip().strip('"')
    slot = re.compile(r"^(scsi|sata|ide|nvme)\d+:\d+$")
    numbered = re.compile(r"^(floppy|ethernet|scsi|sata|ide|nvme|pcibridge)\d+$")
    out = []
    for k, v in keys.items():
        if not k.endswith(".present") or not truthy(v):
            continue
        ns = k[: -len(".present")]
        if slot.match(ns) or numbered.match(ns) or ns in ("svga", "vtpm", "hpet0"):
            continue
        parent = ns.split(":")[0]
        if keys.get(parent + ".present", "").lower() in ("false", "no", "0"):
            continue
        out.append((ns, [ns]))
    if "nvram" in keys:
        out.append(("nvram", [keys["nvram"]]))
    return out


def libvirt_elements(root, output):
    out = []
    devices = root.find("devices")
    for dev in list(devices) if devices is not None else []:
        name = local(dev.tag)
        if name in LIBVIRT_MAPPED:
            if name == "disk":
                tgt = dev.find("target")
                where = f"disk {tgt.get('dev')}" if tgt is not None else "disk ?"
                out.append((where, [where], True))
            continue
        if name == "input" and dev.get("bus") == "ps2":
            continue
        if name == "input" and dev.get("type") == "tablet":
            out.append(("devices/input tablet", ["devices/input", "type: tablet"], True))
            continue
        if name == "rng" and (dev.get("model") or "").startswith("virtio"):
            out.append(("devices/rng", ["devices/rng", "rng: {}"], True))
            continue
        tgt = dev.find("target")
        if name == "channel" and tgt is not None and tgt.get("name") == "org.qemu.guest_agent.0":
            continue
        out.append((f"devices/{name}", [f"devices/{name}"], False))
    nvram = root.find("os/nvram")
    if nvram is not None and nvram.text:
        out.append(("os/nvram", [nvram.text.strip()], False))
    return out


def ovf_elements(root, ovirt):
    out = []
    refs = []
    for it in root.iter():
        if local(it.tag) not in ("Item", "StorageItem", "EthernetPortItem"):
            continue
        rt = child_text(it, "ResourceType")
        iid = child_text(it, "InstanceID") or child_text(it, "InstanceId") or "?"
        res = child_text(it, "HostResource")
        if res:
            refs.append(res)
        refs.append(iid)
        try:
            code = int(rt)
        except (TypeError, ValueError):
            continue
        if ovirt:
            typ = (child_text(it, "Type") or "").lower()
            if code == 0 and typ in OVIRT_NAMED_TYPES:
                out.append((f"Item {iid} ({typ})", [f"Item {iid} "], False))
            if code in (14, 15, 16, 17):
                out.append((f"Item {iid}", [f"Item {iid}", iid], True))
            continue
        if code in (14, 15, 16, 17):
            out.append((f"Item {iid}", [f"Item {iid} "], True))
        elif code not in OVF_MAPPED:
            name = child_text(it, "ElementName") or ""
            out.append((f"Item {iid} '{name}'", [f"Item {iid} "], False))
    used_files = set()
    for d in root.iter():
        if local(d.tag) != "Disk":
            continue
        did, fref = attr(d, "diskId"), attr(d, "fileRef")
        used = any(
            (did and (r.rsplit("/", 1)[-1] == did or r == did)) or
            (fref and (r == fref or r.endswith(fref))) for r in refs)
        if used:
            if fref:
                used_files.add(fref)
            continue
        out.append((f"DiskSection/Disk {did}", [f"DiskSection/Disk '{did}'"], False))
    for f in root.iter():
        if local(f.tag) != "File":
            continue
        fid, href = attr(f, "id"), attr(f, "href")
        if fid in used_files or any((fid and r.endswith(fid)) or r == href for r in refs):
            continue
        out.append((f"References/File {fid}", [f"References/File '{fid}'"], False))
    return out


def vbox_elements(root, in_ovf=False):
    out = []
    hw = None
    for el in root.iter():
        if local(el.tag) == "Hardware":
            hw = el
            break
    if hw is None:
        return out
    for el in hw.iter():
        name = local(el.tag)
        parent_names = []
        if name == "Port" and el.get("enabled") == "true":
            out.append((f"Hardware/Port slot={el.get('slot')}",
                        [f"Hardware/Port slot={el.get('slot')}:"], False))
        elif name == "AudioAdapter" and el.get("enabled") == "true" and not in_ovf:
            out.append(("Hardware/AudioAdapter", ["Hardware/AudioAdapter"], False))
        elif name == "SharedFolder":
            out.append((f"SharedFolder {el.get('name')}", [el.get("hostPath") or "SharedFolder"],
                        False))
        elif name == "DeviceFilter":
            out.append((f"DeviceFilter {el.get('name')}", ["Hardware/DeviceFilter"], False))
        elif name == "NVRAM" and el.get("path"):
            out.append(("Hardware/NVRAM", [el.get("path")], False))
        del parent_names
    usb = [el for el in hw.iter() if local(el.tag) == "USB" and not in_ovf]
    for u in usb:
        for c in u.iter():
            if local(c.tag) == "Controller":
                out.append((f"USB Controller {c.get('type')}", [f"type={c.get('type')}"], False))
    return out


def xl_elements(text):
    out = []
    seen = set()
    for m in re.finditer(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=", text, re.M):
        k = m.group(1)
        if k in XL_MAPPED or k in seen:
            continue
        seen.add(k)
        if k == "usbdevice" and re.search(r'^\s*usbdevice\s*=\s*"tablet"', text, re.M):
            out.append((k, ["type: tablet"], True))
            continue
        out.append((k, [f": {k}"], False))
    return out


def run(case, inp, args):
    r = subprocess.run([CONV, inp] + args, cwd=DIR, capture_output=True, text=True,
                       env=dict(os.environ, FERRY_LOG_FORMAT="text"))
    return r.returncode, r.stdout, r.stderr


def main():
    failures = 0
    checked = 0
    elements = 0
    tmp = tempfile.mkdtemp()
    try:
        for b in sorted(os.listdir(DIR)):
            path = os.path.join(DIR, b)
            m = re.match(r"^(.*)\.(vmx|ovf|vbox|xml|cfg|ova\.d)$", b)
            if not m:
                continue
            case, ext = m.group(1), m.group(2)
            if os.path.exists(os.path.join(DIR, case + ".err")):
                continue   # a refused input: the error is the whole answer
            args = []
            if os.path.exists(os.path.join(DIR, case + ".args")):
                args = shlex.split(open(os.path.join(DIR, case + ".args")).read())
            inp = path
            text = None
            if ext == "ova.d":
                inp = os.path.join(tmp, case + ".ova")
                names = sorted(os.listdir(path), key=lambda n: (not n.endswith(".ovf"), n))
                with tarfile.open(inp, "w", format=tarfile.USTAR_FORMAT) as t:
                    for n in names:
                        t.add(os.path.join(path, n), arcname=n)
                ovf = [n for n in names if n.endswith(".ovf")][0]
                text = open(os.path.join(path, ovf), encoding="utf-8").read()
            else:
                text = open(path, encoding="utf-8", errors="replace").read()
            rc, out, err = run(case, inp, args)
            if rc != 0:
                print(f"FAIL {case}: exit {rc}: {err.strip()}")
                failures += 1
                continue
            if ext == "vmx":
                found = [(n, k, False) for n, k in vmx_elements(text)]
            elif ext == "cfg":
                found = xl_elements(text)
            else:
                root = ET.fromstring(text)
                tag = local(root.tag)
                if tag == "domain":
                    found = libvirt_elements(root, out)
                elif tag == "VirtualBox":
                    found = vbox_elements(root)
                else:
                    ovirt = "ovirt.org" in text or "/envelope/1/" in text
                    found = ovf_elements(root, ovirt)
                    if "virtualbox.org" in text:
                        found += vbox_elements(root, in_ovf=True)
            checked += 1
            for name, needles, may_map in found:
                elements += 1
                named = any(n in err for n in needles)
                mapped = may_map and any(n in out for n in needles)
                if not named and not mapped:
                    print(f"FAIL {case}: {name} is not carried over and no warning names it")
                    failures += 1
    finally:
        subprocess.run(["rm", "-rf", tmp])
    print(f"{checked} inputs, {elements} elements outside the mapped set checked")
    if checked < 30:
        print("FAIL: fewer than 30 inputs walked")
        failures += 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
