using System;
using System.Diagnostics;
using System.IO;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Threading;
using LiveUpdate.Engine.Flow;

namespace LiveUpdate.Engine.Backends.Simulated;

/// <summary>
/// The one persistence path of a simulated lab: <c>system.state</c> is a header line that carries the SHA-256 of
/// the JSON body that follows it; it is written to a temporary file, flushed and renamed over the old one, so a crash
/// leaves either the old or the new state. A file whose body does not match its checksum (truncated, edited by hand)
/// is refused, never reinterpreted. Changes are serialised across processes by an exclusive lock on <c>.lock</c>.
/// </summary>
internal sealed class LabStore
{
    public const string StateFileName = "system.state";
    public const string LockFileName = ".lock";
    private const string HeaderPrefix = "LiveUpdate.Lab/1 sha256=";

    internal static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    private readonly object _gate = new();
    private FileStream? _lock;
    private int _depth;

    public LabStore(string root) => Root = root;

    public string Root { get; }
    public string StatePath => Path.Combine(Root, StateFileName);

    public static bool IsLab(string root) => File.Exists(Path.Combine(root, StateFileName));

    public IDisposable Lock(TimeSpan wait)
    {
        Monitor.Enter(_gate);
        try
        {
            if (_depth++ == 0) _lock = Acquire(wait);
            return new Releaser(this);
        }
        catch
        {
            _depth--;
            Monitor.Exit(_gate);
            throw;
        }
    }

    private FileStream Acquire(TimeSpan wait)
    {
        var path = Path.Combine(Root, LockFileName);
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                var fs = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
                // Holding the lock, no one else writes: a temporary state file here was left by a process that died.
                foreach (var stale in Directory.EnumerateFiles(Root, StateFileName + ".tmp-*")) File.Delete(stale);
                fs.SetLength(0);
                var owner = Encoding.UTF8.GetBytes(Environment.ProcessId.ToString());
                fs.Write(owner, 0, owner.Length);
                fs.Flush(true);
                return fs;
            }
            catch (IOException) when (clock.Elapsed < wait)
            {
                Thread.Sleep(15);
            }
            catch (IOException e)
            {
                throw new LiveUpdateException("LabBusy", ErrorKind.ResourceBusy,
                    $"The lab '{Root}' is being changed by another process; it stayed busy for {wait.TotalSeconds:0.#} s.", Root, e);
            }
        }
    }

    private void Release()
    {
        try
        {
            if (--_depth == 0)
            {
                _lock?.SetLength(0);
                _lock?.Dispose();
                _lock = null;
            }
        }
        finally
        {
            Monitor.Exit(_gate);
        }
    }

    private sealed class Releaser : IDisposable
    {
        private LabStore? _store;
        public Releaser(LabStore store) => _store = store;
        public void Dispose() => Interlocked.Exchange(ref _store, null)?.Release();
    }

    public LabState Load()
    {
        string text;
        try
        {
            text = File.ReadAllText(StatePath, Encoding.UTF8);
        }
        catch (FileNotFoundException e)
        {
            throw new LiveUpdateException("NotALab", ErrorKind.InvalidArgument, $"'{Root}' is not a LiveUpdate lab: it has no {StateFileName}.", Root, e);
        }
        var newline = text.IndexOf('\n');
        if (newline < 0 || !text.StartsWith(HeaderPrefix, StringComparison.Ordinal))
            throw Corrupt("its header is missing");
        var expected = text.Substring(HeaderPrefix.Length, newline - HeaderPrefix.Length).Trim();
        var body = text.Substring(newline + 1);
        if (!string.Equals(Hash(body), expected, StringComparison.Ordinal))
            throw Corrupt("its content does not match its checksum (truncated or edited by hand)");
        try
        {
            return JsonSerializer.Deserialize<LabState>(body, Json) ?? throw Corrupt("it is empty");
        }
        catch (JsonException e)
        {
            throw Corrupt("it is not valid JSON: " + e.Message);
        }
    }

    private LiveUpdateException Corrupt(string why) => new("LabStateCorrupt", ErrorKind.InvalidData,
        $"The state of the lab '{Root}' cannot be trusted: {why}. Nothing was changed.", StatePath);

    public void Save(LabState state)
    {
        var body = JsonSerializer.Serialize(state, Json);
        WriteAtomically(StatePath, HeaderPrefix + Hash(body) + "\n" + body);
    }

    /// <summary>Write, flush to disk, rename: the file is either the old or the new one, never a mixture.</summary>
    internal static void WriteAtomically(string path, string content)
    {
        var temp = path + ".tmp-" + Environment.ProcessId;
        using (var fs = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            var bytes = Encoding.UTF8.GetBytes(content);
            fs.Write(bytes, 0, bytes.Length);
            fs.Flush(true);
        }
        File.Move(temp, path, overwrite: true);
    }

    private static string Hash(string body) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(body))).ToLowerInvariant();
}
