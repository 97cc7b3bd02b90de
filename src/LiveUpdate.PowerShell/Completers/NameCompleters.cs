using System;
using System.Collections;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Language;
using LiveUpdate.Engine.Model;

namespace LiveUpdate.PowerShell.Completers;

/// <summary>Completes names from the connected system; completes nothing when no system is connected.</summary>
public abstract class NameCompleter : IArgumentCompleter
{
    protected abstract IEnumerable<(string Name, string Tip)> Names(SystemInventory inventory);

    /// <summary>The names to offer; by default from the inventory, filtered by the parameters already given.</summary>
    protected virtual IEnumerable<(string Name, string Tip)> Names(LiveUpdate.Engine.Flow.LiveUpdateEngine engine, IDictionary fakeBoundParameters)
        => Names(engine.Inventory());

    /// <summary>The system the command line names with -System (when it is an open connection), else the session's.</summary>
    internal static LiveUpdate.Engine.Flow.LiveUpdateEngine? Connected(IDictionary? parameters)
    {
        var given = parameters is not null && parameters.Contains("System") ? parameters["System"] : null;
        if ((given is PSObject pso ? pso.BaseObject : given) is LiveUpdateConnection { IsOpen: true } c) return c.Engine(p => p);
        return Session.CurrentEngine;
    }

    /// <summary>The name a parameter already holds (a string or an object with a Name), if any.</summary>
    protected static string? Bound(IDictionary parameters, string name)
    {
        if (parameters is null || !parameters.Contains(name)) return null;
        var value = parameters[name] is PSObject pso ? pso.BaseObject : parameters[name];
        return value switch
        {
            string s => s,
            LogicalPartition p => p.Name,
            null => null,
            _ => PSObject.AsPSObject(value).Properties["Name"]?.Value?.ToString() ?? value.ToString(),
        };
    }

    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        var engine = Connected(fakeBoundParameters);
        if (engine is null) return Array.Empty<CompletionResult>();
        List<(string Name, string Tip)> names;
        try
        {
            names = Names(engine, fakeBoundParameters).ToList();
        }
        catch (Exception)
        {
            return Array.Empty<CompletionResult>();
        }
        var prefix = (wordToComplete ?? "").Trim('\'', '"');
        var pattern = new WildcardPattern(WildcardPattern.Escape(prefix) + "*", WildcardOptions.IgnoreCase);
        return names
            .Where(n => pattern.IsMatch(n.Name))
            .GroupBy(n => n.Name, StringComparer.OrdinalIgnoreCase).Select(g => g.First())
            .OrderBy(n => n.Name, StringComparer.OrdinalIgnoreCase)
            .Select(n => new CompletionResult(n.Name, n.Name, CompletionResultType.ParameterValue, n.Tip))
            .ToList();
    }
}

public sealed class PartitionNameCompleter : NameCompleter
{
    protected override IEnumerable<(string, string)> Names(SystemInventory inv) =>
        inv.Partitions.Select(p => (p.Name, $"{p.Name} ({p.State}, {p.OsLevel})"));
}

public sealed class DiskNameCompleter : NameCompleter
{
    protected override IEnumerable<(string, string)> Names(SystemInventory inv) =>
        inv.Disks.Select(d => (d.Name, $"{d.Name} {d.SizeMB} MB {(d.VolumeGroup ?? "free")}"));
}

/// <summary>Completes only free disks: what New-RootVgClone and Start-RootVgMirror can use.</summary>
public sealed class FreeDiskNameCompleter : NameCompleter
{
    protected override IEnumerable<(string, string)> Names(SystemInventory inv) =>
        inv.Disks.Where(d => d.State == DiskState.Free).Select(d => (d.Name, $"{d.Name} {d.SizeMB} MB free"));
}

/// <summary>Completes volume group names, of the partition given with -Partition when there is one.</summary>
public sealed class VolumeGroupNameCompleter : NameCompleter
{
    protected override IEnumerable<(string, string)> Names(SystemInventory inv) => Names(inv, null);

    protected override IEnumerable<(string, string)> Names(LiveUpdate.Engine.Flow.LiveUpdateEngine engine, IDictionary fakeBoundParameters) =>
        Names(engine.Inventory(), Bound(fakeBoundParameters, "Partition"));

    private static IEnumerable<(string, string)> Names(SystemInventory inv, string? partition) => inv.VolumeGroups
        .Where(v => partition is null || string.Equals(v.Partition, partition, StringComparison.OrdinalIgnoreCase))
        .Select(v => (v.Name, $"{v.Name} of {v.Partition} on {string.Join(",", v.Disks)} ({v.Role}, {v.OsLevel})"));
}

public sealed class ApplicationNameCompleter : NameCompleter
{
    protected override IEnumerable<(string, string)> Names(SystemInventory inv) =>
        inv.Applications.Select(a => (a.Name, $"{a.Name} on {a.Partition} ({a.State})"));
}

/// <summary>Completes the ids of journalled operations.</summary>
public class OperationIdCompleter : NameCompleter
{
    /// <summary>Only operations that can be resumed (interrupted ones).</summary>
    protected virtual bool UnfinishedOnly => false;

    protected override IEnumerable<(string, string)> Names(SystemInventory inv) => Array.Empty<(string, string)>();

    protected override IEnumerable<(string, string)> Names(LiveUpdate.Engine.Flow.LiveUpdateEngine engine, IDictionary fakeBoundParameters) =>
        engine.Operations(Bound(fakeBoundParameters, "Partition"))
            .Where(o => !UnfinishedOnly || o.State is OperationState.Interrupted or OperationState.Running or OperationState.InProgress or OperationState.Corrupt)
            .Select(o => (o.Id, $"{o.Kind} of {o.Partition} {o.FromLevel} -> {o.ToLevel}: {o.State}"));
}

/// <summary>Completes the ids of interrupted operations: what Resume-LiveUpdate can finish or roll back.</summary>
public sealed class UnfinishedOperationIdCompleter : OperationIdCompleter
{
    protected override bool UnfinishedOnly => true;
}

/// <summary>
/// Completes update bundles: the bundle folders and archives in the connected lab's updates folder (by name or
/// path, with the bundle's levels as the tooltip), and any other path as PowerShell completes file names.
/// </summary>
public sealed class BundlePathCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        var results = new List<CompletionResult>();
        var word = (wordToComplete ?? "").Trim('\'', '"');
        var engine = NameCompleter.Connected(fakeBoundParameters);
        var updates = engine is null ? null : Path.Combine(engine.Backend.Location, "updates");
        if (updates is not null && Directory.Exists(updates))
        {
            foreach (var entry in Directory.EnumerateFileSystemEntries(updates).OrderBy(e => e, StringComparer.Ordinal))
            {
                if (!IsBundle(entry)) continue;
                var name = Path.GetFileName(entry);
                if (word.Length > 0 && !entry.StartsWith(word, StringComparison.OrdinalIgnoreCase) && !name.StartsWith(word, StringComparison.OrdinalIgnoreCase)) continue;
                var text = entry.Contains(' ') ? $"'{entry}'" : entry;
                results.Add(new CompletionResult(text, name, CompletionResultType.ProviderContainer, Describe(entry)));
            }
        }
        if (results.Count == 0 || LooksLikePath(word))
        {
            var known = new HashSet<string>(results.Select(r => r.CompletionText), StringComparer.Ordinal);
            foreach (var file in CompletionCompleters.CompleteFilename(wordToComplete ?? ""))
                if (known.Add(file.CompletionText)) results.Add(file);
        }
        return results;
    }

    private static bool LooksLikePath(string word) =>
        word.StartsWith(".", StringComparison.Ordinal) || word.StartsWith("~", StringComparison.Ordinal) || word.IndexOfAny(new[] { '/', '\\' }) >= 0;

    private static bool IsBundle(string entry) =>
        File.Exists(Path.Combine(entry, "manifest.json")) || entry.EndsWith(".zip", StringComparison.OrdinalIgnoreCase)
        || entry.EndsWith(".tar", StringComparison.OrdinalIgnoreCase) || entry.EndsWith(".tar.gz", StringComparison.OrdinalIgnoreCase)
        || entry.EndsWith(".tgz", StringComparison.OrdinalIgnoreCase);

    /// <summary>"AIX 7300-02-02 service pack: 7300-02-01 -> 7300-02-02" from a bundle folder's manifest (not verified here).</summary>
    private static string Describe(string entry)
    {
        try
        {
            var manifest = Path.Combine(entry, "manifest.json");
            if (!File.Exists(manifest)) return entry;
            using var json = System.Text.Json.JsonDocument.Parse(File.ReadAllText(manifest));
            var root = json.RootElement;
            string? Text(string name) => root.TryGetProperty(name, out var v) && v.ValueKind == System.Text.Json.JsonValueKind.String ? v.GetString() : null;
            return $"{Text("name") ?? Path.GetFileName(entry)}: {Text("requiresLevel") ?? "any level"} -> {Text("targetLevel")} ({entry})";
        }
        catch (Exception e) when (e is IOException or System.Text.Json.JsonException or UnauthorizedAccessException)
        {
            return entry;
        }
    }
}
