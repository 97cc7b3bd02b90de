using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text.RegularExpressions;
using LiveUpdate.Engine.Flow;
using LiveUpdate.Engine.Model;

namespace LiveUpdate.Engine.Backends.Power;

/// <summary>A disk as <c>lspv</c> shows it: name, PVID, volume group (null for None) and status.</summary>
public sealed record AixDisk(string Name, string Pvid, string? VolumeGroup, bool Active);

/// <summary>What <c>lsvg VG</c> says of a varied-on volume group.</summary>
public sealed record AixVolumeGroup(string Name, string Id, int PpSizeMB, int TotalPps, int UsedPps, int FreePps, int StalePps, bool Quorum);

/// <summary>A logical volume as <c>lsvg -l</c> lists it.</summary>
public sealed record AixLogicalVolume(string Name, string Type, int Lps, int Pps, int Pvs, string State, string MountPoint)
{
    public int Copies => Lps == 0 ? 1 : Pps / Lps;
}

/// <summary>An interim fix as <c>emgr -l</c> lists it.</summary>
public sealed record AixInterimFix(int Id, string State, string Label, string Abstract);

/// <summary>
/// The AIX commands the backend sends, one builder each, and the parsers of their output in the documented layouts
/// (lspv's four columns, lsvg's two KEY: value columns split at VG IDENTIFIER, lsvg -l and -p tables, lslpp -Lc
/// colon fields, emgr -l's fixed columns, oslevel -s, getconf DISK_SIZE, openssl dgst, wc -l, mount's table).
/// </summary>
public static class AixCommands
{
    public static string[] Disks() => new[] { "lspv" };
    public static string[] DiskSize(string disk) => new[] { "getconf", "DISK_SIZE", "/dev/" + disk };
    public static string[] DiskOwner(string disk) => new[] { "getlvodm", "-j", disk };
    public static string[] VolumeGroups() => new[] { "lsvg" };
    public static string[] ActiveVolumeGroups() => new[] { "lsvg", "-o" };
    public static string[] VolumeGroup(string vg) => new[] { "lsvg", vg };
    public static string[] LogicalVolumes(string vg) => new[] { "lsvg", "-l", vg };
    public static string[] OsLevel() => new[] { "oslevel", "-s" };
    public static string[] HostName() => new[] { "hostname" };
    public static string[] Filesets(IEnumerable<string> names) => new[] { "lslpp", "-Lc" }.Concat(names).ToArray();
    public static string[] InterimFixes() => new[] { "emgr", "-l" };
    public static string[] Mounts() => new[] { "mount" };
    public static string[] Clone(IEnumerable<string> disks) => new[] { "alt_disk_copy", "-d", string.Join(" ", disks), "-B" };
    public static string[] Wake(string disk, bool force) => force ? new[] { "env", "FORCE=yes", "alt_rootvg_op", "-W", "-d", disk } : new[] { "alt_rootvg_op", "-W", "-d", disk };
    public static string[] Sleep(string disk) => new[] { "alt_rootvg_op", "-S", "-d", disk };
    public static string[] RemoveAltRootVg(string vg) => new[] { "alt_rootvg_op", "-X", vg };
    public static string[] RenameAltRootVg(string newName, string disk) => new[] { "alt_rootvg_op", "-v", newName, "-d", disk };
    public static string[] InstallIntoClone(IEnumerable<string> filesets, string images, string disk) => new[] { "alt_rootvg_op", "-C", "-w", string.Join(" ", filesets), "-l", images, disk };
    public static string[] InClone(params string[] argv) => new[] { "chroot", "/alt_inst" }.Concat(argv).ToArray();
    public static string[] Mirror(string vg, IEnumerable<string> disks) => new[] { "mirrorvg", vg }.Concat(disks).ToArray();
    public static string[] Sync(string vg) => new[] { "syncvg", "-v", vg };
    public static string[] Unmirror(string vg, IEnumerable<string> disks) => new[] { "unmirrorvg", vg }.Concat(disks).ToArray();
    public static string[] Reduce(string vg, IEnumerable<string> disks) => new[] { "reducevg", vg }.Concat(disks).ToArray();
    public static string[] ClearDisk(string disk) => new[] { "chpv", "-C", disk };
    public static string[] Import(string vg, string disk) => new[] { "importvg", "-y", vg, disk };
    public static string[] Export(string vg) => new[] { "exportvg", vg };
    public static string[] VaryOn(string vg) => new[] { "varyonvg", vg };
    public static string[] VaryOff(string vg) => new[] { "varyoffvg", vg };
    public static string[] Mount(string mountPoint) => new[] { "mount", mountPoint };
    public static string[] Unmount(string mountPoint) => new[] { "umount", mountPoint };
    public static string[] Configure() => new[] { "cfgmgr" };
    public static string[] SetAddress(string itf, string address, string mask, bool permanentOnly = false) => Chdev(itf, permanentOnly, $"netaddr={address}", $"netmask={mask}");
    public static string[] AddAlias(string itf, string address, string mask, bool permanentOnly = false) => Chdev(itf, permanentOnly, $"alias4={address},{mask}");
    public static string[] DeleteAlias(string itf, string address, string mask, bool permanentOnly = false) => Chdev(itf, permanentOnly, $"delalias4={address},{mask}");
    public static string[] SetHostName(string name, bool permanentOnly = false) => Chdev("inet0", permanentOnly, $"hostname={name}");
    public static string[] MakeFolder(string path) => new[] { "mkdir", "-p", path };
    public static string[] RemoveFolder(string path) => new[] { "rm", "-r", path };
    public static string[] WriteFile(string path) => new[] { "dd", "of=" + path, "bs=65536" };
    public static string[] Digest(string path) => new[] { "openssl", "dgst", "-sha256", path };
    public static string[] CountLines(string path) => new[] { "wc", "-l", path };
    public static string[] ReadHead(string path, long bytes) => new[] { "head", "-c", bytes.ToString(CultureInfo.InvariantCulture), path };

    private static string[] Chdev(string device, bool permanentOnly, params string[] attributes)
    {
        var argv = new List<string> { "chdev", "-l", device };
        foreach (var a in attributes)
        {
            argv.Add("-a");
            argv.Add(a);
        }
        if (permanentOnly) argv.Add("-P");
        return argv.ToArray();
    }

    // ------------------------------------------------------------------ parsers

    private static readonly Regex LspvLine = new(@"^(hdisk\S+)\s+(\S+)\s+(\S+)\s*(\S*)$", RegexOptions.CultureInvariant);

    public static IReadOnlyList<AixDisk> ParseDisks(RemoteResult r)
    {
        r.Check("listing the disks");
        // The VIOS's lspv has a heading; AIX's has none.
        var lines = r.Lines();
        if (lines.Count > 0 && Regex.IsMatch(lines[0], @"^NAME\s+PVID\s+VG\s+STATUS$")) lines = lines.Skip(1).ToList();
        return lines.Select(line =>
        {
            var m = LspvLine.Match(line);
            if (!m.Success || (m.Groups[4].Value.Length > 0 && m.Groups[4].Value != "active" && m.Groups[4].Value != "concurrent"))
                throw RemoteOutput.Unexpected(r, line, "an lspv line (NAME PVID VG [STATUS])");
            var vg = m.Groups[3].Value;
            return new AixDisk(m.Groups[1].Value, m.Groups[2].Value, vg == "None" ? null : vg, m.Groups[4].Value.Length > 0);
        }).ToList();
    }

    public static long ParseDiskSize(RemoteResult r)
    {
        r.Check("reading a disk's size");
        var lines = r.Lines();
        if (lines.Count != 1 || !long.TryParse(lines[0].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var mb))
            throw RemoteOutput.Unexpected(r, lines.FirstOrDefault() ?? "", "a size in megabytes");
        return mb;
    }

    /// <summary>getlvodm -j: exit 3 says the disk belongs to no volume group in the ODM; exit 0 prints the group's id.</summary>
    public static bool ParseDiskOwned(RemoteResult r)
    {
        if (r.ExitCode == 3) return false;
        r.Check("asking the ODM about a disk");
        var lines = r.Lines();
        if (lines.Count != 1 || !Regex.IsMatch(lines[0], "^[0-9a-fA-F]{16,32}$")) throw RemoteOutput.Unexpected(r, lines.FirstOrDefault() ?? "", "a volume group id");
        return true;
    }

    private static readonly Regex VgName = new(@"^[A-Za-z][A-Za-z0-9_]{0,14}$", RegexOptions.CultureInvariant);

    public static IReadOnlyList<string> ParseNames(RemoteResult r)
    {
        r.Check("listing the volume groups");
        return r.Lines().Select(l => VgName.IsMatch(l.Trim()) ? l.Trim() : throw RemoteOutput.Unexpected(r, l, "a volume group name")).ToList();
    }

    private static readonly Regex Field = new(@"^([A-Z][A-Za-z ()?/\-]*[A-Za-z)?]):\s*(.*)$", RegexOptions.CultureInvariant);

    /// <summary>Parses <c>lsvg VG</c>: two KEY: value columns, split at the column where VG IDENTIFIER starts on the first line.</summary>
    public static AixVolumeGroup ParseVolumeGroup(RemoteResult r)
    {
        r.Check("reading a volume group");
        var lines = r.Lines();
        var split = lines.Count == 0 ? -1 : lines[0].IndexOf("VG IDENTIFIER:", StringComparison.Ordinal);
        if (split < 0) throw RemoteOutput.Unexpected(r, lines.FirstOrDefault() ?? "", "the first line of lsvg (VOLUME GROUP: ... VG IDENTIFIER: ...)");
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in lines)
        {
            foreach (var part in new[] { line.Length > split ? line.Substring(0, split) : line, line.Length > split ? line.Substring(split) : "" })
            {
                var p = part.Trim();
                if (p.Length == 0) continue;
                var m = Field.Match(p);
                if (!m.Success) throw RemoteOutput.Unexpected(r, line, "KEY: value columns of lsvg");
                fields[m.Groups[1].Value] = m.Groups[2].Value.Trim();
            }
        }
        int Pps(string key)
        {
            if (!fields.TryGetValue(key, out var v)) throw RemoteOutput.Unexpected(r, lines[0], $"lsvg output with {key}");
            var m = Regex.Match(v, @"^(\d+)(\s+\(\d+ megabytes\))?$");
            return m.Success ? int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : throw RemoteOutput.Unexpected(r, key + " " + v, "a number of PPs");
        }
        var pp = Regex.Match(fields.GetValueOrDefault("PP SIZE") ?? "", @"^(\d+) megabyte\(s\)$");
        if (!pp.Success || !fields.TryGetValue("VOLUME GROUP", out var name) || !fields.TryGetValue("VG IDENTIFIER", out var id))
            throw RemoteOutput.Unexpected(r, lines[0], "lsvg output with VOLUME GROUP, VG IDENTIFIER and PP SIZE");
        var quorum = fields.GetValueOrDefault("QUORUM") ?? "";
        return new AixVolumeGroup(name, id, int.Parse(pp.Groups[1].Value, CultureInfo.InvariantCulture), Pps("TOTAL PPs"), Pps("USED PPs"), Pps("FREE PPs"),
            Pps("STALE PPs"), quorum.Contains("Enabled", StringComparison.Ordinal));
    }

    /// <summary>Parses <c>lsvg -l VG</c>: the group's name, the header, then LV NAME TYPE LPs PPs PVs LV STATE MOUNT POINT.</summary>
    public static IReadOnlyList<AixLogicalVolume> ParseLogicalVolumes(RemoteResult r)
    {
        r.Check("listing the logical volumes");
        var lines = r.Lines();
        if (lines.Count < 2 || !lines[0].EndsWith(':') || !lines[1].StartsWith("LV NAME", StringComparison.Ordinal))
            throw RemoteOutput.Unexpected(r, lines.FirstOrDefault() ?? "", "the heading of lsvg -l (VG: and LV NAME ...)");
        return lines.Skip(2).Select(line =>
        {
            var t = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (t.Length < 7 || !int.TryParse(t[2], out var lps) || !int.TryParse(t[3], out var pps) || !int.TryParse(t[4], out var pvs))
                throw RemoteOutput.Unexpected(r, line, "an lsvg -l line (LV NAME TYPE LPs PPs PVs LV STATE MOUNT POINT)");
            return new AixLogicalVolume(t[0], t[1], lps, pps, pvs, t[5], string.Join(" ", t.Skip(6)));
        }).ToList();
    }

    /// <summary>Parses <c>lsvg -p VG</c>: PV_NAME PV STATE TOTAL PPs FREE PPs FREE DISTRIBUTION.</summary>
    public static IReadOnlyList<(string Disk, int Total, int Free)> ParsePhysicalVolumes(RemoteResult r)
    {
        r.Check("listing a volume group's disks");
        var lines = r.Lines();
        if (lines.Count < 2 || !lines[0].EndsWith(':') || !lines[1].StartsWith("PV_NAME", StringComparison.Ordinal))
            throw RemoteOutput.Unexpected(r, lines.FirstOrDefault() ?? "", "the heading of lsvg -p");
        return lines.Skip(2).Select(line =>
        {
            var t = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (t.Length != 5 || !int.TryParse(t[2], out var total) || !int.TryParse(t[3], out var free) || !Regex.IsMatch(t[4], @"^\d+(\.\.\d+){4}$"))
                throw RemoteOutput.Unexpected(r, line, "an lsvg -p line (PV_NAME PV STATE TOTAL PPs FREE PPs FREE DISTRIBUTION)");
            return (t[0], total, free);
        }).ToList();
    }

    private static readonly Regex LevelLine = new(@"^\d{4}-\d{2}-\d{2}-\d{4}$", RegexOptions.CultureInvariant);

    public static Model.OsLevel ParseOsLevel(RemoteResult r)
    {
        r.Check("reading the OS level");
        var lines = r.Lines();
        if (lines.Count != 1 || !LevelLine.IsMatch(lines[0].Trim()) || !Model.OsLevel.TryParse(lines[0].Trim(), out var level))
            throw RemoteOutput.Unexpected(r, lines.FirstOrDefault() ?? "", "an oslevel -s level (7300-02-01-2346)");
        return level!;
    }

    /// <summary>Parses <c>lslpp -Lc</c>: a # heading, then colon-separated fields (package, fileset, level, ...), by fileset.</summary>
    public static IReadOnlyDictionary<string, string> ParseFilesets(RemoteResult r)
    {
        r.Check("listing the filesets");
        var lines = r.Lines();
        if (lines.Count == 0 || !lines[0].StartsWith("#Package Name:Fileset:Level", StringComparison.Ordinal))
            throw RemoteOutput.Unexpected(r, lines.FirstOrDefault() ?? "", "the heading of lslpp -Lc");
        var sets = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in lines.Skip(1))
        {
            var f = line.Split(':');
            if (f.Length < 8 || !Regex.IsMatch(f[2], @"^\d+(\.\d+){3}$")) throw RemoteOutput.Unexpected(r, line, "an lslpp -Lc line (Package:Fileset:Level:...)");
            sets[f[1]] = f[2];
        }
        return sets;
    }

    /// <summary>Parses <c>emgr -l</c>: fixed columns under ID STATE LABEL INSTALL TIME UPDATED BY ABSTRACT (or "There is no efix data").</summary>
    public static IReadOnlyList<AixInterimFix> ParseInterimFixes(RemoteResult r)
    {
        r.Check("listing the interim fixes");
        var lines = r.Lines();
        if (lines.Count == 1 && lines[0].Trim() == "There is no efix data on this system.") return Array.Empty<AixInterimFix>();
        if (lines.Count < 2 || !lines[0].StartsWith("ID", StringComparison.Ordinal) || !lines[1].StartsWith("===", StringComparison.Ordinal))
            throw RemoteOutput.Unexpected(r, lines.FirstOrDefault() ?? "", "the heading of emgr -l");
        var label = lines[0].IndexOf("LABEL", StringComparison.Ordinal);
        var time = lines[0].IndexOf("INSTALL TIME", StringComparison.Ordinal);
        var abs = lines[0].IndexOf("ABSTRACT", StringComparison.Ordinal);
        var fixes = new List<AixInterimFix>();
        foreach (var line in lines.Skip(2))
        {
            if (line.StartsWith("STATE codes", StringComparison.Ordinal)) break;
            var m = Regex.Match(line, @"^(\d+)\s+(\S+)\s+(\S+)");
            if (!m.Success || line.Length < label) throw RemoteOutput.Unexpected(r, line, "an emgr -l line");
            fixes.Add(new AixInterimFix(int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), m.Groups[2].Value.Trim('*'), m.Groups[3].Value,
                line.Length > abs ? line.Substring(abs).Trim() : ""));
        }
        return fixes;
    }

    private static readonly Regex DigestLine = new(@"^SHA2?-?256\((.+)\)= ([0-9a-f]{64})$", RegexOptions.CultureInvariant);

    public static string ParseDigest(RemoteResult r)
    {
        r.Check("computing a checksum");
        var lines = r.Lines();
        var m = lines.Count == 1 ? DigestLine.Match(lines[0].Trim()) : Match.Empty;
        return m.Success ? m.Groups[2].Value : throw RemoteOutput.Unexpected(r, lines.FirstOrDefault() ?? "", "SHA2-256(file)= digest");
    }

    public static long ParseLineCount(RemoteResult r)
    {
        r.Check("counting lines");
        var lines = r.Lines();
        var m = lines.Count == 1 ? Regex.Match(lines[0], @"^\s*(\d+)\s+\S") : Match.Empty;
        return m.Success ? long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : throw RemoteOutput.Unexpected(r, lines.FirstOrDefault() ?? "", "a line count (wc -l)");
    }

    /// <summary>Parses <c>mount</c>: two heading lines, then node (may be empty), mounted, mounted over, vfs, date, options; returns the mount points.</summary>
    public static IReadOnlyList<string> ParseMounts(RemoteResult r)
    {
        r.Check("listing the mounted file systems");
        var lines = r.Output.Replace("\r", "").Split('\n').Where(l => l.Trim().Length > 0).ToList();
        if (lines.Count < 2 || !lines[0].TrimStart().StartsWith("node", StringComparison.Ordinal) || !lines[1].StartsWith("--------", StringComparison.Ordinal))
            throw RemoteOutput.Unexpected(r, lines.FirstOrDefault() ?? "", "the heading of mount");
        var points = new List<string>();
        foreach (var line in lines.Skip(2))
        {
            var t = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var local = line.StartsWith(' ');
            var over = local ? 1 : 2;
            if (t.Length < over + 5 || !t[over].StartsWith('/')) throw RemoteOutput.Unexpected(r, line, "a mount line (node mounted over vfs date options)");
            points.Add(t[over]);
        }
        return points;
    }
}
