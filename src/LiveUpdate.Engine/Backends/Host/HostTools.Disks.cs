using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;

namespace LiveUpdate.Engine.Backends.Host;

/// <summary>Loop devices, file-system signatures, sizes and wiping.</summary>
internal sealed partial class HostTools
{
    /// <summary>The loop device that already maps a file, or a new one.</summary>
    public string AttachLoop(string file)
    {
        var existing = LoopOf(file);
        if (existing is not null) return existing;
        return Run("losetup", "--find", "--show", file).StandardOutput.Trim();
    }

    public string? LoopOf(string file)
    {
        var r = Probe("losetup", "--noheadings", "--output", "NAME", "--associated", file);
        return r.Succeeded ? r.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Trim()).FirstOrDefault() : null;
    }

    public void DetachLoop(string device)
    {
        DetachCopies(device);
        var r = Probe("losetup", "--detach", device);
        if (!r.Succeeded && File.Exists("/sys/block/" + Path.GetFileName(device) + "/loop/backing_file"))
            throw new CommandFailedException(r.Command, r.ExitCode, r.StandardError, "Detaching a loop device");
    }

    /// <summary>The file system (or other) signature on a device: type and label; null when it holds none.</summary>
    public (string Type, string? Label, string? Uuid)? Signature(string device)
    {
        var r = Probe("blkid", "--probe", "--output", "export", device);
        if (r.ExitCode == 2) return null;
        if (!r.Succeeded) throw new CommandFailedException(r.Command, r.ExitCode, r.StandardError, "Reading the signature of " + device);
        var values = r.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('=', 2)).Where(p => p.Length == 2)
            .GroupBy(p => p[0]).ToDictionary(g => g.Key, g => g.First()[1]);
        var type = values.GetValueOrDefault("TYPE") ?? values.GetValueOrDefault("PTTYPE") ?? "unknown";
        return (type, values.GetValueOrDefault("LABEL"), values.GetValueOrDefault("UUID"));
    }

    public long SizeBytes(string device) => long.Parse(Run("blockdev", "--getsize64", device).StandardOutput.Trim(), CultureInfo.InvariantCulture);

    /// <summary>Removes every signature from a device and makes the kernel forget it as a btrfs member.</summary>
    public void Wipe(string device)
    {
        foreach (var m in MountsOfDevice(device).OrderByDescending(m => m.MountPoint.Length)) Unmount(m.MountPoint);
        DetachCopies(device);
        Probe("btrfs", "device", "scan", "--forget", device);
        Run("wipefs", "--all", "--quiet", device);
    }
}
