using System;
using System.Collections.Generic;
using System.Linq;
using System.Xml.Linq;

namespace LiveUpdate.Engine.Backends.VirtualMachine;

/// <summary>What a lab domain is made of.</summary>
internal sealed record DomainSpec(
    string Name, string Title, long MemoryMB, string Kernel, string Initrd, string HostName, string Address, string Mac,
    string RootDisk, IReadOnlyList<(string Path, string Serial, bool Block)> DataDisks, string Bridge, string Console, bool Kvm, bool RootIsBlock = false);

/// <summary>
/// Domain definitions and device descriptions for libvirt, written and read with System.Xml.Linq: the lab's domains
/// (direct kernel boot, virtio disks and network, the guest agent's channel), a surrogate derived from the original's
/// own definition, hot-plugged disks and block-copy targets.
/// </summary>
internal static class DomainXml
{
    public const string MetadataUri = "https://liveupdate.invalid/xmlns/vm/1";
    public const string MetadataKey = "liveupdate";
    private static readonly XNamespace Lu = MetadataUri;

    /// <summary>The kernel command line of a lab guest: its host name and address come from here (lu.host, lu.addr).</summary>
    public static string CommandLine(string hostName, string address) => CommandLine("console=ttyS0 quiet", hostName, address);

    /// <summary>
    /// The kernel command line a guest boots with: the arguments it had (its root, console and the rest) with the identity
    /// it boots as in place of any it had (lu.host, lu.addr, and lu.data=SERIAL:MOUNTPOINT,… for its data disks).
    /// </summary>
    public static string CommandLine(string? had, string hostName, string address, IEnumerable<string>? data = null)
    {
        var kept = (had ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries).Where(a => !a.StartsWith("lu.", StringComparison.Ordinal));
        var identity = new List<string> { "lu.host=" + hostName, "lu.addr=" + address };
        if (data?.ToList() is { Count: > 0 } disks) identity.Add("lu.data=" + string.Join(",", disks));
        return string.Join(" ", kept.Concat(identity));
    }

    public static string Lab(DomainSpec s)
    {
        var devices = new XElement("devices",
            new XElement("emulator", "/usr/bin/qemu-system-x86_64"),
            Disk(s.RootDisk, "vda", null, s.RootIsBlock),
            // Data disks sit on a virtio-scsi controller: a disk plugged in there appears in the guest within tens of
            // milliseconds, where a virtio-blk disk waits for a PCI hot-plug.
            new XElement("controller", new XAttribute("type", "scsi"), new XAttribute("index", "0"), new XAttribute("model", "virtio-scsi")),
            s.DataDisks.Select((d, i) => Disk(d.Path, "sd" + (char)('a' + i), d.Serial, d.Block)),
            new XElement("interface", new XAttribute("type", "bridge"),
                new XElement("source", new XAttribute("bridge", s.Bridge)),
                new XElement("mac", new XAttribute("address", s.Mac)),
                new XElement("model", new XAttribute("type", "virtio"))),
            new XElement("serial", new XAttribute("type", "file"), new XElement("source", new XAttribute("path", s.Console)), new XElement("target", new XAttribute("port", "0"))),
            new XElement("channel", new XAttribute("type", "unix"), new XElement("target", new XAttribute("type", "virtio"), new XAttribute("name", "org.qemu.guest_agent.0"))),
            new XElement("memballoon", new XAttribute("model", "none")));
        var features = new XElement("features", new XElement("acpi"));
        if (!s.Kvm) features.Add(new XElement("tcg", new XElement("tb-cache", new XAttribute("unit", "MiB"), "32")));
        var domain = new XElement("domain", new XAttribute("type", s.Kvm ? "kvm" : "qemu"),
            new XElement("name", s.Name),
            new XElement("title", s.Title),
            new XElement("memory", new XAttribute("unit", "MiB"), s.MemoryMB),
            new XElement("vcpu", 1),
            new XElement("os",
                new XElement("type", new XAttribute("arch", "x86_64"), new XAttribute("machine", "pc"), "hvm"),
                new XElement("kernel", s.Kernel), new XElement("initrd", s.Initrd), new XElement("cmdline", CommandLine(s.HostName, s.Address))),
            features,
            new XElement("on_poweroff", "destroy"), new XElement("on_reboot", "restart"), new XElement("on_crash", "destroy"),
            devices);
        return domain.ToString();
    }

    /// <summary>A virtio disk for a definition or a hot-plug; the serial lets the guest find it whatever name it gets.</summary>
    public static XElement Disk(string path, string target, string? serial, bool block)
    {
        var disk = new XElement("disk", new XAttribute("type", block ? "block" : "file"), new XAttribute("device", "disk"),
            new XElement("driver", new XAttribute("name", "qemu"), new XAttribute("type", "raw"), new XAttribute("cache", "none"), new XAttribute("io", "native")),
            new XElement("source", new XAttribute(block ? "dev" : "file", path)),
            new XElement("target", new XAttribute("dev", target), new XAttribute("bus", target.StartsWith("sd", StringComparison.Ordinal) ? "scsi" : "virtio")));
        if (serial is not null) disk.Add(new XElement("serial", serial));
        return disk;
    }

    /// <summary>The target of a block copy: a raw file or block device that already exists.</summary>
    public static string CopyTarget(string path, bool block) => new XElement("disk", new XAttribute("type", block ? "block" : "file"),
        new XElement("source", new XAttribute(block ? "dev" : "file", path)), new XElement("driver", new XAttribute("type", "raw"))).ToString();

    /// <summary>
    /// A surrogate's definition from the original's (inactive) one: a new name, no UUID (libvirt gives one), the clone
    /// as its boot disk, no data disks (they arrive by hot-plug at the blackout), the boot files of the clone's kernel,
    /// its own host name, address, link-layer address and console.
    /// </summary>
    public static string Surrogate(string original, string name, string title, string cloneDisk, bool cloneIsBlock, string kernel, string initrd,
        string hostName, string address, string mac, string console)
    {
        var doc = XElement.Parse(original);
        doc.Element("name")!.Value = name;
        doc.Element("uuid")?.Remove();
        SetOrAdd(doc, "title", title);
        doc.Element("metadata")?.Remove();
        var os = doc.Element("os")!;
        SetOrAdd(os, "kernel", kernel);
        SetOrAdd(os, "initrd", initrd);
        SetOrAdd(os, "cmdline", CommandLine(os.Element("cmdline")?.Value, hostName, address));
        var devices = doc.Element("devices")!;
        foreach (var d in devices.Elements("disk").ToList())
        {
            var target = d.Element("target")?.Attribute("dev")?.Value;
            if (target == "vda")
            {
                d.Attribute("type")!.Value = cloneIsBlock ? "block" : "file";
                d.Element("source")!.ReplaceWith(new XElement("source", new XAttribute(cloneIsBlock ? "dev" : "file", cloneDisk)));
            }
            else if (d.Attribute("device")?.Value is "disk" or null) d.Remove();
        }
        foreach (var i in devices.Elements("interface"))
        {
            i.Element("mac")?.Remove();
            i.Element("target")?.Remove();
            i.AddFirst(new XElement("mac", new XAttribute("address", mac)));
        }
        foreach (var serial in devices.Elements("serial").Concat(devices.Elements("console")).ToList())
            if (serial.Attribute("type")?.Value == "file") serial.Element("source")!.SetAttributeValue("path", console);
        return doc.ToString();
    }

    /// <summary>The same definition with the identity a guest boots with on its kernel command line, and a title.</summary>
    public static string WithCommandLine(string definition, string hostName, string address, string title, IEnumerable<string>? data = null)
    {
        var doc = XElement.Parse(definition);
        var os = doc.Element("os")!;
        SetOrAdd(os, "cmdline", CommandLine(os.Element("cmdline")?.Value, hostName, address, data));
        SetOrAdd(doc, "title", title);
        return doc.ToString();
    }

    /// <summary>Our metadata element: the partition a domain is, with its identity.</summary>
    public static string Identity(string partition, string uuid, string hostName, string address) =>
        new XElement(Lu + "partition", new XAttribute("name", partition), new XAttribute("uuid", uuid), new XAttribute("hostName", hostName), new XAttribute("address", address)).ToString();

    /// <summary>The disks of a definition: target → source path.</summary>
    public static IReadOnlyDictionary<string, string> Disks(string definition) => XElement.Parse(definition).Element("devices")!.Elements("disk")
        .Where(d => d.Attribute("device")?.Value is "disk" or null)
        .ToDictionary(d => d.Element("target")?.Attribute("dev")?.Value ?? "", d => d.Element("source")?.Attribute("file")?.Value ?? d.Element("source")?.Attribute("dev")?.Value ?? "");

    /// <summary>Whether the definition has a virtio-scsi controller (data disks are then plugged in as sdX).</summary>
    public static bool HasScsi(string definition) => XElement.Parse(definition).Element("devices")!.Elements("controller")
        .Any(c => c.Attribute("type")?.Value == "scsi" && c.Attribute("model")?.Value == "virtio-scsi");




    public static long MemoryMB(string definition)
    {
        var m = XElement.Parse(definition).Element("memory");
        if (m is null || !long.TryParse(m.Value, out var v)) return 0;
        return (m.Attribute("unit")?.Value ?? "KiB") switch { "MiB" => v, "GiB" => v * 1024, "b" or "bytes" => v / (1024 * 1024), _ => v / 1024 };
    }

    private static void SetOrAdd(XElement parent, string name, string value)
    {
        var e = parent.Element(name);
        if (e is null) parent.Add(new XElement(name, value));
        else e.Value = value;
    }
}
