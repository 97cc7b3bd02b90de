using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;

namespace LiveUpdate.Engine.Backends.Host;

/// <summary>btrfs file systems and subvolumes: make, snapshot, delete, send and receive, usage.</summary>
internal sealed partial class HostTools
{
    /// <summary>Makes a btrfs over the devices; with <paramref name="uuid"/> it gets that file-system UUID (recorded by the caller beforehand).</summary>
    public void MakeBtrfs(IReadOnlyList<string> devices, string label, string? uuid = null)
    {
        var args = new List<string> { "--force", "--quiet", "--label", label, "--data", "single", "--metadata", devices.Count > 1 ? "raid1" : "dup" };
        if (uuid is not null) { args.Add("--uuid"); args.Add(uuid); }
        args.AddRange(devices);
        _runner.Run(Prerequisites.Tool("mkfs.btrfs"), args, Log, purpose: "Making a file system", cancellation: Cancellation);
    }

    public bool IsSubvolume(string path) => Directory.Exists(path) && Probe("btrfs", "subvolume", "show", path).Succeeded;

    /// <summary>True when a subvolume was received completely (btrfs sets its received UUID only at the end).</summary>
    public bool IsCompleteReceived(string path)
    {
        if (!Directory.Exists(path)) return false;
        var r = Probe("btrfs", "subvolume", "show", path);
        if (!r.Succeeded) return false;
        var line = r.StandardOutput.Split('\n').FirstOrDefault(l => l.TrimStart().StartsWith("Received UUID:", StringComparison.Ordinal));
        return line is not null && !line.Trim().EndsWith("-", StringComparison.Ordinal);
    }

    public void CreateSubvolume(string path)
    {
        if (IsSubvolume(path)) return;
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        if (Directory.Exists(path)) Directory.Delete(path, recursive: true);
        Run("btrfs", "subvolume", "create", path);
    }

    public void Snapshot(string source, string target, bool readOnly)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        if (readOnly) Run("btrfs", "subvolume", "snapshot", "-r", source, target);
        else Run("btrfs", "subvolume", "snapshot", source, target);
    }

    /// <summary>Deletes a subvolume (and any subvolume nested in it); a plain directory there is removed too.</summary>
    public void DeleteSubvolume(string path)
    {
        if (!Directory.Exists(path)) return;
        if (!IsSubvolume(path))
        {
            Directory.Delete(path, recursive: true);
            return;
        }
        // Nested subvolumes first: a subvolume cannot be deleted while it holds one.
        var list = Probe("btrfs", "subvolume", "list", "-o", path);
        if (list.Succeeded)
        {
            var mount = Mounts().Where(m => path.StartsWith(m.MountPoint.TrimEnd('/') + "/", StringComparison.Ordinal)).OrderByDescending(m => m.MountPoint.Length).FirstOrDefault();
            foreach (var line in list.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Reverse())
            {
                var at = line.IndexOf(" path ", StringComparison.Ordinal);
                if (at < 0 || mount is null || mount.Root != "/") continue;
                var nested = Path.Combine(mount.MountPoint, line.Substring(at + 6).Trim());
                if (nested != path && nested.StartsWith(path + "/", StringComparison.Ordinal)) DeleteSubvolume(nested);
            }
        }
        Run("btrfs", "subvolume", "delete", "--commit-after", path);
    }

    /// <summary><c>btrfs send [-p parent] snapshot | btrfs receive dir</c>: two processes, no shell.</summary>
    public void SendReceive(string snapshot, string? parent, string targetDir)
    {
        Directory.CreateDirectory(targetDir);
        var send = new List<string> { "send", "--quiet" };
        if (parent is not null) { send.Add("-p"); send.Add(parent); }
        send.Add(snapshot);
        var btrfs = Prerequisites.Tool("btrfs");
        _runner.Pipe(btrfs, send, btrfs, new[] { "receive", targetDir }, Log, purpose: "Copying " + Path.GetFileName(snapshot), cancellation: Cancellation);
    }

    public static (long SizeMB, long UsedMB) Usage(string mountPoint)
    {
        try
        {
            var d = new DriveInfo(mountPoint);
            var size = d.TotalSize / (1024 * 1024);
            return (size, Math.Max(0, (d.TotalSize - d.TotalFreeSpace) / (1024 * 1024)));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return (0, 0);
        }
    }
}
