using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using LiveUpdate.Engine.Model;

namespace LiveUpdate.Engine.Flow;

/// <summary>
/// The append-only journal of one operation: <c>journal/&lt;partition&gt;/&lt;id&gt;.jsonl</c> beside the system's state. Every entry is
/// one JSON line, flushed to disk before the work it announces starts and after it ends, and chained to the entry
/// before it by a SHA-256, so a journal that was truncated in the middle or edited by hand is refused, never
/// reinterpreted.
/// </summary>
public sealed class OperationJournal
{
    public const string Folder = "journal";
    private const string Genesis = "0000000000000000000000000000000000000000000000000000000000000000";

    private readonly List<JsonObject> _entries;
    private string _lastHash;

    private OperationJournal(string path, string id, List<JsonObject> entries, string lastHash)
    {
        Path = path;
        Id = id;
        _entries = entries;
        _lastHash = lastHash;
    }

    public string Path { get; }
    public string Id { get; }
    public IReadOnlyList<JsonObject> Entries => _entries;

    public static string FolderOf(string location) => System.IO.Path.Combine(location, Folder);

    public static OperationJournal Create(string location, string partition, string id)
    {
        var folder = System.IO.Path.Combine(FolderOf(location), partition.ToLowerInvariant());
        Backends.Folders.CreateOwnerOnly(folder);
        var path = System.IO.Path.Combine(folder, id + ".jsonl");
        if (File.Exists(path))
            throw new LiveUpdateException("OperationExists", ErrorKind.ResourceExists, $"An operation with id {id} already exists.", id);
        return new OperationJournal(path, id, new List<JsonObject>(), Genesis);
    }

    /// <summary>The ids of the operations of one partition (or of all), oldest first.</summary>
    public static IEnumerable<string> Ids(string location, string? partition = null)
    {
        var folder = FolderOf(location);
        if (partition is not null) folder = System.IO.Path.Combine(folder, partition.ToLowerInvariant());
        return Directory.Exists(folder)
            ? Directory.EnumerateFiles(folder, "*.jsonl", SearchOption.AllDirectories).Select(f => System.IO.Path.GetFileNameWithoutExtension(f)!).OrderBy(x => x, StringComparer.Ordinal)
            : Enumerable.Empty<string>();
    }

    /// <summary>The file of an operation's journal, or null when there is none.</summary>
    public static string? PathOf(string location, string id)
    {
        var folder = FolderOf(location);
        return id.IndexOfAny(System.IO.Path.GetInvalidFileNameChars()) >= 0 || !Directory.Exists(folder) ? null
            : Directory.EnumerateFiles(folder, id + ".jsonl", SearchOption.AllDirectories).FirstOrDefault();
    }

    /// <summary>
    /// What can be read of a journal that fails its check, to show it: the partition (its folder) and the first
    /// entry's fields where that line is JSON at all. Nothing of it is trusted to act on.
    /// </summary>
    public static (string Partition, JsonObject? First, DateTimeOffset Written) Glimpse(string location, string id)
    {
        var path = PathOf(location, id) ?? throw new LiveUpdateException("OperationNotFound", ErrorKind.ObjectNotFound, $"There is no live update operation with id '{id}'.", id);
        JsonObject? first = null;
        try
        {
            using var reader = new StreamReader(path, Encoding.UTF8);
            var buffer = new char[64 * 1024];
            var n = reader.Read(buffer, 0, buffer.Length);
            var line = new string(buffer, 0, n).Split('\n')[0];
            first = JsonNode.Parse(line) as JsonObject;
        }
        catch (Exception e) when (e is JsonException or IOException or InvalidOperationException)
        {
            first = null;
        }
        var folder = System.IO.Path.GetFileName(System.IO.Path.GetDirectoryName(path)!);
        return ((string?)(first?["partition"] as JsonValue) ?? folder, first, new DateTimeOffset(File.GetLastWriteTimeUtc(path), TimeSpan.Zero));
    }

    /// <summary>Sets a journal that fails its check aside (renamed to .discarded beside it), so that it no longer counts.</summary>
    public static string Discard(string location, string id)
    {
        var path = PathOf(location, id) ?? throw new LiveUpdateException("OperationNotFound", ErrorKind.ObjectNotFound, $"There is no live update operation with id '{id}'.", id);
        var aside = path + ".discarded";
        File.Move(path, aside, overwrite: false);
        return aside;
    }

    public static OperationJournal Open(string location, string id)
    {
        var path = PathOf(location, id);
        if (path is null)
            throw new LiveUpdateException("OperationNotFound", ErrorKind.ObjectNotFound, $"There is no live update operation with id '{id}'.", id);
        var entries = new List<JsonObject>();
        var hash = Genesis;
        var text = File.ReadAllText(path, Encoding.UTF8);
        if (text.Length > 0 && !text.EndsWith("\n", StringComparison.Ordinal))
            throw Corrupt(path, id, "its last entry is cut off (truncated)");
        var n = 0;
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0) continue;
            n++;
            JsonObject entry;
            try
            {
                entry = JsonNode.Parse(line)?.AsObject() ?? throw Corrupt(path, id, $"entry {n} is empty");
            }
            catch (JsonException)
            {
                throw Corrupt(path, id, $"entry {n} is not valid JSON");
            }
            var stored = entry["hash"]?.GetValue<string>();
            entry.Remove("hash");
            var expected = Hash(hash, entry.ToJsonString());
            if (stored != expected)
                throw Corrupt(path, id, $"entry {n} does not match its checksum (edited by hand, or entries are missing)");
            if (entry["n"]?.GetValue<int>() != n)
                throw Corrupt(path, id, $"entry {n} is out of sequence");
            hash = expected;
            entries.Add(entry);
        }
        if (entries.Count == 0 || (string?)entries[0]["event"] != "Begin")
            throw Corrupt(path, id, "it does not start with the beginning of an operation");
        return new OperationJournal(path, id, entries, hash);
    }

    private static LiveUpdateException Corrupt(string path, string id, string why) => new("JournalCorrupt", ErrorKind.InvalidData,
        $"The journal of operation {id} ({path}) cannot be trusted: {why}. Nothing was changed.", id);

    private static string Hash(string previous, string json) =>
        Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(previous + json))).ToLowerInvariant();

    /// <summary>Appends one entry and flushes it to disk before returning.</summary>
    public void Append(string @event, DateTimeOffset clock, params (string Key, object? Value)[] fields)
    {
        var entry = new JsonObject
        {
            ["n"] = _entries.Count + 1,
            ["at"] = DateTimeOffset.UtcNow.ToString("o", CultureInfo.InvariantCulture),
            ["clock"] = clock.ToString("o", CultureInfo.InvariantCulture),
            ["event"] = @event,
        };
        foreach (var (key, value) in fields) entry[key] = value is null ? null : JsonSerializer.SerializeToNode(value);
        var hash = Hash(_lastHash, entry.ToJsonString());
        var line = entry.DeepClone().AsObject();
        line["hash"] = hash;
        var bytes = Encoding.UTF8.GetBytes(line.ToJsonString() + "\n");
        using (var fs = new FileStream(Path, FileMode.Append, FileAccess.Write, FileShare.Read))
        {
            fs.Write(bytes, 0, bytes.Length);
            fs.Flush(true);
        }
        _lastHash = hash;
        _entries.Add(entry);
    }

    // ------------------------------------------------------------------ reading an operation back

    public JsonObject Begin => _entries[0];
    /// <summary>Update (Invoke-LiveUpdate), Undo (Undo-LiveUpdate) or Steps (the hand steps, New-RootVgClone and on).</summary>
    public string Kind => (string?)Begin["kind"] ?? "Update";
    public bool IsHandSteps => Kind == HandSteps;
    public const string HandSteps = "Steps";
    public string Partition => (string)Begin["partition"]!;
    // What hand steps learn as they go (the disks, the bundle, the level it leads to) is recorded by the step that
    // learns it; the latest entry that names a field is what holds.
    public string BundlePath => (string?)Latest("bundle") ?? "";
    public string BundleName => (string?)Latest("bundleName") ?? "";
    public OsLevel FromLevel => OsLevel.Parse((string)Begin["from"]!);
    public OsLevel ToLevel => OsLevel.Parse((string)Latest("to")!);
    public IReadOnlyList<string> CloneDisks => Strings(Latest("cloneDisks"));
    public IReadOnlyList<string> MirrorDisks => Strings(Latest("mirrorDisks"));
    public IReadOnlyList<string> Applications => Strings(Begin["applications"]);
    public int ProcessId => (int?)Begin["pid"] ?? 0;
    /// <summary>The kept rootvg an undo goes back to.</summary>
    public string OldRootVg => (string?)Begin["oldRootVg"] ?? "old_rootvg";
    public DateTimeOffset StartedClock => Clock(Begin);
    /// <summary>When the operation began, in real time.</summary>
    public DateTimeOffset StartedAt => DateTimeOffset.Parse((string)Begin["at"]!, CultureInfo.InvariantCulture);

    private JsonNode? Latest(string key) => _entries.LastOrDefault(e => e.ContainsKey(key))?[key];

    private static IReadOnlyList<string> Strings(JsonNode? node) => node is JsonArray a ? a.Select(x => (string)x!).ToArray() : Array.Empty<string>();
    internal static DateTimeOffset Clock(JsonObject e) => DateTimeOffset.Parse((string)e["clock"]!, CultureInfo.InvariantCulture);

    public JsonObject? End => _entries.LastOrDefault(e => (string?)e["event"] == "Ended");
    public bool Ended => End is not null;
    public bool PointOfNoReturnPassed => _entries.Any(e => (string?)e["event"] == "PointOfNoReturn");
    public bool RollingBack => _entries.Any(e => (string?)e["event"] == "RollbackStarted");

    /// <summary>Whether a step's last record says it succeeded (a step undone by hand is not done).</summary>
    public bool StepDone(string step) => StepState(step) == "StepSucceeded";

    /// <summary>The last Step* event of a step (StepStarted, StepSucceeded, StepFailed, StepUndone), or null.</summary>
    public string? StepState(string step) => (string?)_entries.LastOrDefault(e => (string?)e["step"] == step && ((string?)e["event"])!.StartsWith("Step", StringComparison.Ordinal))?["event"];

    /// <summary>The last entry: a StepStarted one means a process stopped in the middle of that step.</summary>
    public JsonObject Last => _entries[^1];

    public IEnumerable<JsonObject> Events(string name) => _entries.Where(e => (string?)e["event"] == name);

    /// <summary>Each step's last state, with the time it took on the backend's clock.</summary>
    public IReadOnlyList<OperationStep> Steps()
    {
        var names = Kind == "Undo" ? Flow.Steps.Undo : Flow.Steps.Update;
        var result = new List<OperationStep>();
        foreach (var name in names)
        {
            var mine = _entries.Where(e => (string?)e["step"] == name && ((string?)e["event"])!.StartsWith("Step", StringComparison.Ordinal)).ToList();
            var started = mine.FirstOrDefault(e => (string?)e["event"] == "StepStarted");
            var last = mine.LastOrDefault();
            var state = last is null ? "Pending" : (string?)last["event"] switch
            {
                "StepSucceeded" => "Succeeded",
                "StepFailed" => "Failed",
                "StepUndone" => "Undone",
                _ => "Started",
            };
            if (state is "Started" && RollingBack) state = "Failed";
            var duration = started is not null && last is not null && state == "Succeeded" ? Clock(last) - Clock(mine.Last(e => (string?)e["event"] == "StepStarted")) : TimeSpan.Zero;
            var detail = (string?)last?["detail"] ?? (string?)last?["error"] ?? "";
            result.Add(new OperationStep(name, state, duration.TotalSeconds, detail));
        }
        return result;
    }
}
