using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using LiveUpdate.Engine.Backends.Simulated;
using LiveUpdate.Engine.Flow;
using LiveUpdate.Engine.Model;

namespace LiveUpdate.Engine.Tests;

/// <summary>A simulated lab in a temporary folder with an engine over it; removed on Dispose.</summary>
public sealed class SimulatedLab : IDisposable
{
    private readonly TestFolder _folder = new("liveupdate-lab-test");

    public SimulatedLab(LabOptions? options = null)
    {
        Root = _folder.Combine("lab");
        Backend = LabBuilder.Create(Root, options ?? new LabOptions());
        Engine = new LiveUpdateEngine(Backend);
    }

    public string Root { get; }
    public SimulatedBackend Backend { get; }
    public LiveUpdateEngine Engine { get; }

    public string Bundle(string level) => Path.Combine(Root, "updates", level);

    public SystemInventory Inventory() => Engine.Inventory();

    public LogicalPartition Partition(string name = "lpar1") => Engine.GetPartition(name);

    /// <summary>The sequence numbers in an application's data file on the copy of its volume group held by one disk.</summary>
    public IReadOnlyList<long> Records(string disk, string dataPath)
    {
        var file = Path.Combine(Root, "disks", disk, dataPath.TrimStart('/'));
        return File.Exists(file) ? File.ReadLines(file).Select(l => long.Parse(l.Substring(0, 8))).ToList() : Array.Empty<long>();
    }

    /// <summary>Every folder and file of the lab with the SHA-256 of its content: equal snapshots mean nothing changed.</summary>
    public string Snapshot()
    {
        var text = new StringBuilder();
        foreach (var entry in Directory.EnumerateFileSystemEntries(Root, "*", SearchOption.AllDirectories).OrderBy(e => e, StringComparer.Ordinal))
        {
            text.Append(Path.GetRelativePath(Root, entry));
            if (File.Exists(entry)) text.Append(' ').Append(Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(entry))));
            text.Append('\n');
        }
        return text.ToString();
    }

    public void Dispose() => _folder.Dispose();

    /// <summary>Where the records are not 1, 2, 3, ...: the first place, or null when they are.</summary>
    public static string? Gap(IReadOnlyList<long> records)
    {
        for (var i = 0; i < records.Count; i++)
            if (records[i] != i + 1) return $"record #{i + 1} is {records[i]}";
        return null;
    }
}

/// <summary>An OperationContext that answers ShouldProcess as told and remembers what it was asked.</summary>
public sealed class RecordingContext
{
    private readonly Func<string, string, bool> _answer;

    public RecordingContext(bool answer) : this((_, _) => answer) { }

    public RecordingContext(Func<string, string, bool> answer) => _answer = answer;

    public List<(string Target, string Action)> Asked { get; } = new();
    public List<ProgressInfo> Progress { get; } = new();

    public OperationContext Context => new()
    {
        ShouldProcess = (target, action) =>
        {
            Asked.Add((target, action));
            return _answer(target, action);
        },
        Progress = Progress.Add,
    };
}
