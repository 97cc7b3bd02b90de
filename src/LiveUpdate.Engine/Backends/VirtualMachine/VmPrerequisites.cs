using System;
using System.Collections.Generic;
using System.Linq;
using LiveUpdate.Engine.Backends.Host;
using LiveUpdate.Engine.Flow;

namespace LiveUpdate.Engine.Backends.VirtualMachine;

/// <summary>The tools the VirtualMachine backend runs on the host, each with the Debian package that installs it.</summary>
public static class VmPrerequisites
{
    public static readonly IReadOnlyList<(string Tool, string Package)> Tools = new[]
    {
        ("qemu-img", "qemu-utils"), ("debugfs", "e2fsprogs"), ("e2fsck", "e2fsprogs"), ("mke2fs", "e2fsprogs"), ("dumpe2fs", "e2fsprogs"),
        ("dpkg-deb", "dpkg"), ("depmod", "kmod"), ("modprobe", "kmod"), ("xz", "xz-utils"), ("ip", "iproute2"),
    };

    /// <summary>What a lab needs besides: QEMU, a libvirt daemon to start, the guest agent and busybox for the guests, apt-get for the kernels.</summary>
    public static readonly IReadOnlyList<(string Tool, string Package)> LabTools = new[]
    {
        ("qemu-system-x86_64", "qemu-system-x86"), ("libvirtd", "libvirt-daemon libvirt-daemon-driver-qemu"), ("virtlogd", "libvirt-daemon"),
        ("qemu-ga", "qemu-guest-agent"), ("busybox", "busybox-static"), ("apt-get", "apt"), ("useradd", "passwd"),
    };

    public static string Packages => "qemu-system-x86 qemu-utils libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-guest-agent busybox-static e2fsprogs kmod xz-utils iproute2";

    /// <summary>Why the backend cannot run here, or null when it can.</summary>
    public static LiveUpdateException? Problem(bool lab)
    {
        if (!OperatingSystem.IsLinux())
            return new LiveUpdateException("LinuxRequired", ErrorKind.NotEnabled, "The VirtualMachine backend runs only on Linux.", null);
        if (!Native.IsRoot)
            return new LiveUpdateException("RootRequired", ErrorKind.PermissionDenied, "The VirtualMachine backend edits disk images, and a lab starts libvirt and network namespaces: it must run as root.", null);
        var missing = (lab ? Tools.Concat(LabTools) : Tools).Where(t => Prerequisites.Find(t.Tool) is null).ToList();
        if (!LibvirtConnection.LibraryPresent()) missing.Add(("libvirt.so.0", "libvirt0"));
        if (missing.Count == 0) return null;
        var packages = string.Join(" ", missing.SelectMany(m => m.Package.Split(' ')).Distinct());
        return new LiveUpdateException("ToolMissing", ErrorKind.NotInstalled,
            $"The VirtualMachine backend needs {string.Join(", ", missing.Select(m => $"{m.Tool} (package {m.Package})"))}; install with: apt-get install {packages}",
            string.Join(",", missing.Select(m => m.Tool)));
    }

    public static void Check(bool lab)
    {
        var problem = Problem(lab);
        if (problem is not null) throw problem;
    }

    internal static string Tool(string name) => Prerequisites.Find(name)
        ?? throw new LiveUpdateException("ToolMissing", ErrorKind.NotInstalled, $"'{name}' is not installed (apt-get install {Tools.Concat(LabTools).FirstOrDefault(t => t.Tool == name).Package ?? name}).", name);
}
