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

    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        var engine = Session.Current;
        if (engine is null) return Array.Empty<CompletionResult>();
        SystemInventory inventory;
        try
        {
            inventory = engine.Inventory();
        }
        catch (Exception)
        {
            return Array.Empty<CompletionResult>();
        }
        var prefix = (wordToComplete ?? "").Trim('\'', '"');
        var pattern = new WildcardPattern(prefix + "*", WildcardOptions.IgnoreCase);
        return Names(inventory)
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

public sealed class VolumeGroupNameCompleter : NameCompleter
{
    protected override IEnumerable<(string, string)> Names(SystemInventory inv) =>
        inv.VolumeGroups.Select(v => (v.Name, $"{v.Name} of {v.Partition} on {string.Join(",", v.Disks)}"));
}

public sealed class ApplicationNameCompleter : NameCompleter
{
    protected override IEnumerable<(string, string)> Names(SystemInventory inv) =>
        inv.Applications.Select(a => (a.Name, $"{a.Name} on {a.Partition} ({a.State})"));
}

/// <summary>Completes bundle folders and archives under the connected lab's updates folder, and paths as usual.</summary>
public sealed class BundlePathCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        var results = new List<CompletionResult>();
        var engine = Session.Current;
        if (engine is null) return results;
        var updates = Path.Combine(engine.Backend.Location, "updates");
        if (!Directory.Exists(updates)) return results;
        var word = (wordToComplete ?? "").Trim('\'', '"');
        foreach (var entry in Directory.EnumerateFileSystemEntries(updates).OrderBy(e => e, StringComparer.Ordinal))
        {
            var isBundle = File.Exists(Path.Combine(entry, "manifest.json")) || entry.EndsWith(".zip", StringComparison.OrdinalIgnoreCase)
                || entry.EndsWith(".tar", StringComparison.OrdinalIgnoreCase) || entry.EndsWith(".tar.gz", StringComparison.OrdinalIgnoreCase) || entry.EndsWith(".tgz", StringComparison.OrdinalIgnoreCase);
            if (!isBundle) continue;
            var name = Path.GetFileName(entry);
            if (word.Length > 0 && !entry.StartsWith(word, StringComparison.OrdinalIgnoreCase) && !name.StartsWith(word, StringComparison.OrdinalIgnoreCase)) continue;
            var text = entry.Contains(' ') ? $"'{entry}'" : entry;
            results.Add(new CompletionResult(text, name, CompletionResultType.ProviderContainer, entry));
        }
        return results;
    }
}
