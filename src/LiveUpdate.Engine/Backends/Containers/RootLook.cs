using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using LiveUpdate.Engine.Backends.Host;
using LiveUpdate.Engine.Flow;

namespace LiveUpdate.Engine.Backends.Containers;

/// <summary>
/// A look at a partition's root volume group before the backend has connected (Test-LiveUpdateHost,
/// New-LiveUpdateHostDescription): its disks attached read-only where they are files, the btrfs mounted read-only in
/// a private folder of the description's folder; everything undone on Dispose. Nothing on the disks changes.
/// </summary>
internal sealed class RootLook : IDisposable
{
    private readonly HostTools _tools;
    private readonly List<string> _attached = new();
    private readonly List<string> _devices = new();

    private RootLook(HostTools tools, string mount)
    {
        _tools = tools;
        Mount = mount;
    }

    /// <summary>Where the whole file system is mounted (its top, subvolume id 5).</summary>
    public string Mount { get; }

    /// <summary>The partition's root: the subvolume <c>root</c> at the top.</summary>
    public string Root => Path.Combine(Mount, "root");

    public static RootLook Open(HostTools tools, string folder, IReadOnlyList<DiskIdentity> disks)
    {
        var mount = Path.Combine(folder, ".liveupdate-look-" + LabScaffold.NewId());
        var look = new RootLook(tools, mount);
        try
        {
            var devices = new List<string>();
            foreach (var d in disks)
            {
                if (d.Device is not null)
                {
                    devices.Add(d.Device);
                    continue;
                }
                var loop = tools.Run("losetup", "--find", "--show", "--read-only", d.File!).StandardOutput.Trim();
                look._attached.Add(loop);
                devices.Add(loop);
            }
            look._devices.AddRange(devices);
            var sig = tools.Signature(devices[0]);
            if (sig is null || sig.Value.Type != "btrfs")
                throw new LiveUpdateException("RootVgNotBtrfs", ErrorKind.InvalidData,
                    $"The root disks {string.Join(", ", disks.Select(x => x.Name))} hold {(sig is null ? "no file system" : sig.Value.Type)}, not a btrfs root volume group.", disks[0].Name);
            Folders.CreateOwnerOnly(mount);
            foreach (var dev in devices) tools.Probe("btrfs", "device", "scan", dev);
            tools.RunFor("Mounting the root volume group read-only for a look", "mount", "-t", "btrfs", "-o",
                "ro,subvolid=5" + string.Concat(devices.Select(x => ",device=" + x)), devices[0], mount);
            return look;
        }
        catch
        {
            look.Dispose();
            throw;
        }
    }

    /// <summary>The subvolumes below the top, by path from the top (root, root/srv, ...).</summary>
    public IReadOnlyList<string> Subvolumes()
    {
        var r = _tools.Run("btrfs", "subvolume", "list", Mount);
        return r.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.IndexOf(" path ", StringComparison.Ordinal) is var at and >= 0 ? l.Substring(at + 6).Trim() : null)
            .Where(p => p is not null).Select(p => p!).ToList();
    }

    public void Dispose()
    {
        try
        {
            if (HostTools.IsMountPoint(Mount)) _tools.Unmount(Mount);
            if (Directory.Exists(Mount)) Directory.Delete(Mount);
        }
        finally
        {
            foreach (var device in _devices) _tools.DetachCopies(device, Mount);
            foreach (var loop in _attached)
            {
                _tools.Probe("btrfs", "device", "scan", "--forget", loop);
                _tools.DetachLoop(loop);
            }
        }
    }
}
