using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.RegularExpressions;
using LiveUpdate.Engine.Backends.Host;
using LiveUpdate.Engine.Flow;
using Microsoft.Extensions.Logging;

namespace LiveUpdate.Engine.Backends.VirtualMachine;

/// <summary>One change to an ext4 image: a folder, a file from a host file of ours, a symbolic link, a removal.</summary>
internal abstract record ImageEdit(string Path)
{
    public sealed record Folder(string Path) : ImageEdit(Path);
    public sealed record File(string Path, string Source) : ImageEdit(Path);
    public sealed record Link(string Path, string Target) : ImageEdit(Path);
    public sealed record Remove(string Path) : ImageEdit(Path);
}

/// <summary>
/// Reads and edits a guest's ext4 disk image offline with <c>debugfs</c>, never mounting it on the host: every path is
/// resolved inside the image's own file system, so no link that the guest planted in its tree can lead the host
/// anywhere. Reads are bounded; names are checked against a strict pattern before they reach a debugfs command.
/// </summary>
internal sealed class GuestImage
{
    private static readonly Regex SafePath = new(@"^/[A-Za-z0-9_.+@:=,~-]+(/[A-Za-z0-9_.+@:=,~-]+)*$", RegexOptions.CultureInvariant);
    private static readonly Regex SafeTarget = new(@"^[A-Za-z0-9_.+@:=,~/-]{1,255}$", RegexOptions.CultureInvariant);
    private readonly CommandRunner _runner = new();
    private readonly string _image;

    public GuestImage(string image) => _image = image;

    public ILogger Log { get; set; } = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;

    public static bool IsSafePath(string path) => SafePath.IsMatch(path) && !path.Split('/').Any(s => s is "." or "..");

    private static string Checked(string path) => IsSafePath(path) ? path
        : throw new LiveUpdateException("ImagePathUnsafe", ErrorKind.InvalidData, $"'{path}' is not a path the offline edit writes (letters, digits and _.+@:=,~- only).", path);

    private CommandResult Debugfs(string request, bool write = false) =>
        _runner.Probe(VmPrerequisites.Tool("debugfs"), write ? new[] { "-w", "-R", request, _image } : new[] { "-R", request, _image }, Log);

    /// <summary>The inode's type and size, or null where the path does not exist in the image (links are not followed at the end).</summary>
    public (string Type, long Size)? Stat(string path)
    {
        var r = Debugfs("stat " + Checked(path));
        var m = Regex.Match(r.StandardOutput, @"Type:\s*(\w+).*?Size:\s*(\d+)", RegexOptions.Singleline);
        return m.Success ? (m.Groups[1].Value, long.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture)) : null;
    }

    /// <summary>A regular file's text, at most <paramref name="max"/> bytes; null where it is missing or not a regular file.</summary>
    public string? ReadText(string path, long max = 64 * 1024)
    {
        var s = Stat(path);
        if (s is null || s.Value.Type != "regular" || s.Value.Size > max) return null;
        var r = Debugfs("cat " + Checked(path));
        return r.Succeeded ? r.StandardOutput : null;
    }

    /// <summary>Copies a regular file out of the image into a host file of ours (bounded by <paramref name="max"/>).</summary>
    public void Extract(string path, string hostFile, long max)
    {
        var s = Stat(path);
        if (s is null || s.Value.Type != "regular" || s.Value.Size > max)
            throw new LiveUpdateException("BootFileMissing", ErrorKind.InvalidData, $"{path} on {_image} is not a regular file of at most {max} bytes.", path);
        if (File.Exists(hostFile)) File.Delete(hostFile);
        var r = Debugfs($"dump {Checked(path)} {hostFile}");
        if (!r.Succeeded || !File.Exists(hostFile) || new FileInfo(hostFile).Length != s.Value.Size)
            throw new LiveUpdateException("BootFileMissing", ErrorKind.InvalidData, $"{path} could not be read from {_image}: {r.StandardError.Trim()}", path);
    }

    /// <summary>Names in a folder of the image (its entries, not following a link).</summary>
    public IReadOnlyList<string> List(string folder)
    {
        var r = Debugfs("ls -p " + Checked(folder));
        var names = new List<string>();
        foreach (var line in r.StandardOutput.Split('\n'))
        {
            var f = line.Split('/');
            if (f.Length >= 6 && f[5].Length > 0 && f[5] is not ("." or "..")) names.Add(f[5]);
        }
        return names;
    }

    /// <summary>Applies the edits in one debugfs run, then checks the file system and that every file arrived.</summary>
    public void Apply(IReadOnlyList<ImageEdit> edits, string scratch)
    {
        var script = new StringBuilder();
        foreach (var e in edits)
        {
            var p = Checked(e.Path);
            switch (e)
            {
                case ImageEdit.Folder:
                    script.Append("mkdir ").Append(p).Append('\n');
                    break;
                case ImageEdit.File f:
                    if (!SafeTarget.IsMatch(f.Source)) throw new LiveUpdateException("ImagePathUnsafe", ErrorKind.InvalidData, $"'{f.Source}' is not a safe host path.", f.Source);
                    script.Append("rm ").Append(p).Append('\n').Append("write ").Append(f.Source).Append(' ').Append(p).Append('\n');
                    break;
                case ImageEdit.Link l:
                    if (!SafeTarget.IsMatch(l.Target)) throw new LiveUpdateException("ImagePathUnsafe", ErrorKind.InvalidData, $"Link target '{l.Target}' is not safe.", l.Path);
                    script.Append("rm ").Append(p).Append('\n').Append("symlink ").Append(p).Append(' ').Append(l.Target).Append('\n');
                    break;
                case ImageEdit.Remove:
                    script.Append("rm ").Append(p).Append('\n');
                    break;
            }
        }
        var file = Path.Combine(scratch, "debugfs-" + Guid.NewGuid().ToString("N") + ".cmd");
        File.WriteAllText(file, script.ToString());
        try
        {
            var r = _runner.Probe(VmPrerequisites.Tool("debugfs"), new[] { "-w", "-f", file, _image }, Log);
            if (!r.Succeeded) throw new LiveUpdateException("ImageEditFailed", ErrorKind.DeviceError, $"debugfs could not edit {_image}: {r.StandardError.Trim()}", _image);
        }
        finally
        {
            File.Delete(file);
        }
        Check();
        foreach (var f in edits.OfType<ImageEdit.File>())
        {
            var s = Stat(f.Path);
            if (s is null || s.Value.Type != "regular" || s.Value.Size != new FileInfo(f.Source).Length)
                throw new LiveUpdateException("ImageEditFailed", ErrorKind.DeviceError, $"{f.Path} did not arrive on {_image} whole (is the disk full?).", f.Path);
        }
    }

    /// <summary>e2fsck -fy: a clone of a live file system, or an image just edited, is consistent before anyone mounts it.</summary>
    public void Check()
    {
        var r = _runner.Probe(VmPrerequisites.Tool("e2fsck"), new[] { "-fy", _image }, Log);
        if (r.ExitCode > 1) throw new LiveUpdateException("ImageCheckFailed", ErrorKind.DeviceError, $"e2fsck found errors on {_image} that it could not repair (exit {r.ExitCode}).", _image);
    }

    /// <summary>A new ext4 file system on an image (or device) holding a folder's tree (<c>mke2fs -d</c>, no mount).</summary>
    public static void Create(string image, string tree, string label, ILogger log)
    {
        new CommandRunner().Run(VmPrerequisites.Tool("mke2fs"), new[] { "-q", "-F", "-t", "ext4", "-L", label, "-d", tree, image }, log, purpose: "Building a guest disk");
    }

    /// <summary>The file system's UUID (dumpe2fs -h), or null where the disk holds none.</summary>
    public string? Uuid()
    {
        var r = _runner.Probe(VmPrerequisites.Tool("dumpe2fs"), new[] { "-h", _image }, Log);
        var m = Regex.Match(r.StandardOutput, @"Filesystem UUID:\s*([0-9a-f-]+)");
        return r.Succeeded && m.Success ? m.Groups[1].Value : null;
    }
}
