using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using System.Text.RegularExpressions;
using LiveUpdate.Engine.Flow;

namespace LiveUpdate.Engine.Backends.Power;

/// <summary>A virtual SCSI adapter as <c>lshwres -r virtualio --rsubtype scsi</c> lists it.</summary>
public sealed record ScsiAdapter(string Partition, int PartitionId, int Slot, string Type, int RemoteId, string RemotePartition, int RemoteSlot);

/// <summary>A VIOS server adapter and its virtual target devices as <c>lsmap -all</c> shows them.</summary>
public sealed record VhostMapping(string Vhost, string Physloc, int ClientId, IReadOnlyList<(string Vtd, string Backing)> Targets)
{
    public int Slot => int.Parse(Physloc.Substring(Physloc.LastIndexOf("-C", StringComparison.Ordinal) + 2), CultureInfo.InvariantCulture);
}

/// <summary>
/// The HMC command line (and the VIOS padmin commands run through it): one builder per command, one parser per
/// output. HMC output is comma-separated; a value with a comma is double-quoted ("" inside stands for a quote), with
/// -F only the values in the order asked, and an empty answer is the text <c>No results were found.</c>.
/// </summary>
public static class HmcCommands
{
    public const string NoResults = "No results were found.";

    public static string[] Systems() => new[] { "lssyscfg", "-r", "sys", "-F", "name,type_model,serial_num,state" };
    public static string[] Partitions(string sys) => new[] { "lssyscfg", "-r", "lpar", "-m", sys, "-F", "name,lpar_id,lpar_env,state,curr_profile,os_version,rmc_ipaddr,uuid" };
    public static string[] Profiles(string sys, string lpar) => new[] { "lssyscfg", "-r", "prof", "-m", sys, "--filter", "lpar_names=" + lpar };
    public static string[] ProcessorsOfSystem(string sys) => new[] { "lshwres", "-r", "proc", "-m", sys, "--level", "sys", "-F", "configurable_sys_proc_units,curr_avail_sys_proc_units" };
    public static string[] MemoryOfSystem(string sys) => new[] { "lshwres", "-r", "mem", "-m", sys, "--level", "sys", "-F", "configurable_sys_mem,curr_avail_sys_mem" };
    public static string[] ProcessorsOfPartitions(string sys) => new[] { "lshwres", "-r", "proc", "-m", sys, "--level", "lpar", "-F", "lpar_name,curr_proc_mode,curr_proc_units,curr_procs" };
    public static string[] MemoryOfPartitions(string sys) => new[] { "lshwres", "-r", "mem", "-m", sys, "--level", "lpar", "-F", "lpar_name,curr_mem" };
    public static string[] ScsiAdapters(string sys) => new[] { "lshwres", "-r", "virtualio", "--rsubtype", "scsi", "-m", sys, "--level", "lpar", "-F",
        "lpar_name,lpar_id,slot_num,adapter_type,remote_lpar_id,remote_lpar_name,remote_slot_num" };
    public static string[] CreatePartition(string sys, IEnumerable<KeyValuePair<string, string>> attributes) => new[] { "mksyscfg", "-r", "lpar", "-m", sys, "-i", Attributes(attributes) };
    public static string[] PowerOn(string sys, string lpar, string profile) => new[] { "chsysstate", "-r", "lpar", "-m", sys, "-o", "on", "-n", lpar, "-f", profile };
    public static string[] ShutDown(string sys, string lpar) => new[] { "chsysstate", "-r", "lpar", "-m", sys, "-o", "shutdown", "--immed", "-n", lpar };
    public static string[] Rename(string sys, string lpar, string newName) => new[] { "chsyscfg", "-r", "lpar", "-m", sys, "-i", Attributes(new Dictionary<string, string> { ["name"] = lpar, ["new_name"] = newName }) };
    public static string[] Remove(string sys, string lpar) => new[] { "rmsyscfg", "-r", "lpar", "-m", sys, "-n", lpar };
    public static string[] AddServerAdapter(string sys, string vios, int slot, string client, int clientSlot) => new[] { "chhwres", "-r", "virtualio", "-m", sys, "-o", "a", "-p", vios,
        "--rsubtype", "scsi", "-s", slot.ToString(CultureInfo.InvariantCulture), "-a", $"adapter_type=server,remote_lpar_name={client},remote_slot_num={clientSlot}" };
    public static string[] RemoveServerAdapter(string sys, string vios, int slot) => new[] { "chhwres", "-r", "virtualio", "-m", sys, "-o", "r", "-p", vios,
        "--rsubtype", "scsi", "-s", slot.ToString(CultureInfo.InvariantCulture) };
    public static string[] SaveProfile(string sys, string lpar, string profile) => new[] { "mksyscfg", "-r", "prof", "-m", sys, "-o", "save", "-p", lpar, "-n", profile, "--force" };
    /// <summary>A padmin command run on the VIOS through the HMC: the VIOS splits the -c string itself, so it is quoted by the same rule.</summary>
    public static string[] OnVios(string sys, string vios, IReadOnlyList<string> command) => new[] { "viosvrcmd", "-m", sys, "-p", vios, "-c", RemoteCommand.Quote(command) };

    // ------------------------------------------------------------------ VIOS padmin commands

    public static string[] ViosDisks() => new[] { "lspv" };
    public static string[] ViosMappings() => new[] { "lsmap", "-all" };
    public static string[] ViosConfigure() => new[] { "cfgdev" };
    public static string[] ViosMap(string disk, string vhost, string vtd) => new[] { "mkvdev", "-vdev", disk, "-vadapter", vhost, "-dev", vtd };
    public static string[] ViosUnmap(string vtd) => new[] { "rmvdev", "-vtd", vtd };
    public static string[] ViosRemoveAdapter(string vhost) => new[] { "rmdev", "-dev", vhost, "-recursive" };

    // ------------------------------------------------------------------ formats

    /// <summary>An attribute list for -i: key=value pairs, a pair whose value holds a comma or quote double-quoted.</summary>
    public static string Attributes(IEnumerable<KeyValuePair<string, string>> attributes)
    {
        var sb = new StringBuilder();
        foreach (var (k, v) in attributes)
        {
            if (!Regex.IsMatch(k, "^[a-z_0-9]+$") || v.Any(char.IsControl))
                throw new LiveUpdateException("RemoteArgumentInvalid", ErrorKind.InvalidArgument, $"'{k}' is not an HMC attribute (or its value holds a control character).", k);
            if (sb.Length > 0) sb.Append(',');
            var pair = k + "=" + v;
            sb.Append(pair.IndexOfAny(new[] { ',', '"' }) >= 0 ? "\"" + pair.Replace("\"", "\"\"") + "\"" : pair);
        }
        return sb.ToString();
    }

    /// <summary>Splits one line at the commas outside double quotes; null when a quote is not closed.</summary>
    public static List<string>? Split(string line)
    {
        var fields = new List<string>();
        var cur = new StringBuilder();
        var quoted = false;
        for (var i = 0; i < line.Length; i++)
        {
            var c = line[i];
            if (c == '"')
            {
                if (quoted && i + 1 < line.Length && line[i + 1] == '"')
                {
                    cur.Append('"');
                    i++;
                }
                else quoted = !quoted;
            }
            else if (c == ',' && !quoted)
            {
                fields.Add(cur.ToString());
                cur.Clear();
            }
            else cur.Append(c);
        }
        if (quoted) return null;
        fields.Add(cur.ToString());
        return fields;
    }

    /// <summary>The rows of an answer to -F with <paramref name="count"/> fields; empty for "No results were found.".</summary>
    public static IReadOnlyList<string[]> Values(RemoteResult r, int count, bool required = false, string? what = null)
    {
        r.Check(what ?? "an HMC query");
        var lines = r.Lines();
        if (lines.Count == 1 && lines[0].Trim() == NoResults)
        {
            if (required)
                throw new LiveUpdateException("HmcNoResults", ErrorKind.ObjectNotFound, $"{r.Endpoint} answered '{NoResults}' to '{r.Command}' ({what}).", r.Endpoint);
            return Array.Empty<string[]>();
        }
        var rows = new List<string[]>();
        foreach (var line in lines)
        {
            var f = Split(line);
            if (f is null || f.Count != count) throw RemoteOutput.Unexpected(r, line, $"{count} comma-separated values");
            rows.Add(f.ToArray());
        }
        if (required && rows.Count == 0)
            throw new LiveUpdateException("HmcNoResults", ErrorKind.ObjectNotFound, $"{r.Endpoint} printed nothing for '{r.Command}' ({what}).", r.Endpoint);
        return rows;
    }

    /// <summary>The rows of a key=value answer (no -F); empty for "No results were found.".</summary>
    public static IReadOnlyList<Dictionary<string, string>> Pairs(RemoteResult r, string what)
    {
        r.Check(what);
        var lines = r.Lines();
        if (lines.Count == 1 && lines[0].Trim() == NoResults) return Array.Empty<Dictionary<string, string>>();
        var rows = new List<Dictionary<string, string>>();
        foreach (var line in lines)
        {
            var f = Split(line) ?? throw RemoteOutput.Unexpected(r, line, "comma-separated key=value pairs");
            var row = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var item in f)
            {
                var eq = item.IndexOf('=');
                if (eq <= 0 || !Regex.IsMatch(item.Substring(0, eq), "^[a-z_0-9]+$")) throw RemoteOutput.Unexpected(r, line, "comma-separated key=value pairs");
                row[item.Substring(0, eq)] = item.Substring(eq + 1);
            }
            rows.Add(row);
        }
        return rows;
    }

    public static double Number(RemoteResult r, string value, string line) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) ? d : throw RemoteOutput.Unexpected(r, line, "a number where one belongs");

    public static int Integer(RemoteResult r, string value, string line) =>
        int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var i) ? i : throw RemoteOutput.Unexpected(r, line, "an integer where one belongs");

    public static IReadOnlyList<ScsiAdapter> ParseScsiAdapters(RemoteResult r) => Values(r, 7, what: "the virtual SCSI adapters")
        .Select(f => new ScsiAdapter(f[0], Integer(r, f[1], string.Join(",", f)), Integer(r, f[2], string.Join(",", f)), f[3],
            f[4].Length == 0 ? 0 : Integer(r, f[4], string.Join(",", f)), f[5], Integer(r, f[6], string.Join(",", f)))).ToList();

    private static readonly Regex VhostLine = new(@"^(vhost\d+)\s+(\S+-C\d+)\s+(0x[0-9a-fA-F]+)$", RegexOptions.CultureInvariant);

    /// <summary>Parses <c>lsmap -all</c>: per server adapter a header, a line of dashes, its line, then a block per virtual target device.</summary>
    public static IReadOnlyList<VhostMapping> ParseMappings(RemoteResult r)
    {
        r.Check("listing the VIOS mappings");
        var result = new List<VhostMapping>();
        string? vhost = null, physloc = null, vtd = null;
        var client = 0;
        var targets = new List<(string, string)>();
        void Flush()
        {
            if (vhost is not null) result.Add(new VhostMapping(vhost, physloc!, client, targets.ToList()));
            targets.Clear();
            vhost = null;
        }
        foreach (var line in r.Output.Replace("\r", "").Split('\n').Select(l => l.TrimEnd()))
        {
            if (line.Length == 0 || line.StartsWith("----", StringComparison.Ordinal)) continue;
            if (line.StartsWith("SVSA", StringComparison.Ordinal))
            {
                Flush();
                continue;
            }
            var m = VhostLine.Match(line);
            if (m.Success)
            {
                Flush();
                vhost = m.Groups[1].Value;
                physloc = m.Groups[2].Value;
                client = Convert.ToInt32(m.Groups[3].Value, 16);
                continue;
            }
            var key = line.Length > 22 ? line.Substring(0, 22).Trim() : line.Trim();
            var value = line.Length > 22 ? line.Substring(22).Trim() : "";
            if (vhost is null) throw RemoteOutput.Unexpected(r, line, "part of an lsmap block");
            switch (key)
            {
                case "VTD" when value == "NO VIRTUAL TARGET DEVICE FOUND":
                    break;
                case "VTD":
                    vtd = value;
                    break;
                case "Backing device":
                    if (vtd is null) throw RemoteOutput.Unexpected(r, line, "a backing device after its VTD");
                    targets.Add((vtd, value));
                    vtd = null;
                    break;
                case "Status" or "LUN" or "Physloc" or "Mirrored":
                    break;
                default:
                    throw RemoteOutput.Unexpected(r, line, "an lsmap field (VTD, Status, LUN, Backing device, Physloc, Mirrored)");
            }
        }
        Flush();
        return result;
    }
}
