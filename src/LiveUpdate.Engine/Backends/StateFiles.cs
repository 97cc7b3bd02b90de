using System;
using System.Diagnostics;
using System.IO;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Threading;
using LiveUpdate.Engine.Flow;

namespace LiveUpdate.Engine.Backends;

/// <summary>
/// A system's exclusive lock across threads and processes: the open file <c>.lock</c> in its folder (its content never
/// changes, so reading a system changes no file). Re-entrant within one lock object; a waiter gives up after the wait
/// with <c>LabBusy</c>. The operating system drops the lock of a process that dies.
/// </summary>
internal sealed class SystemLock
{
    public const string FileName = ".lock";

    private readonly string _root;
    private readonly Action? _onAcquired;
    private readonly object _gate = new();
    private FileStream? _file;
    private int _depth;

    /// <param name="root">The folder that holds the system's state.</param>
    /// <param name="onAcquired">Runs each time the lock is taken from outside (repairs after a crash); a failure releases the lock.</param>
    public SystemLock(string root, Action? onAcquired = null)
    {
        _root = root;
        _onAcquired = onAcquired;
    }

    public IDisposable Hold(TimeSpan wait)
    {
        Monitor.Enter(_gate);
        try
        {
            if (_depth++ == 0) _file = Acquire(wait);
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
        var path = Path.Combine(_root, FileName);
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                var fs = NoFollow.OpenLocked(path, create: true);
                try
                {
                    _onAcquired?.Invoke();
                }
                catch
                {
                    fs.Dispose();
                    throw;
                }
                return fs;
            }
            catch (DirectoryNotFoundException e)
            {
                throw new LiveUpdateException("NotALab", ErrorKind.ObjectNotFound, $"The system folder '{_root}' is gone.", _root, e);
            }
            catch (IOException) when (clock.Elapsed < wait)
            {
                Thread.Sleep(15);
            }
            catch (IOException e)
            {
                throw new LiveUpdateException("LabBusy", ErrorKind.ResourceBusy,
                    $"The system '{_root}' is being changed by another process; it stayed busy for {wait.TotalSeconds:0.#} s.", _root, e);
            }
        }
    }

    private void Release()
    {
        try
        {
            if (--_depth == 0)
            {
                _file?.Dispose();
                _file = null;
            }
        }
        finally
        {
            Monitor.Exit(_gate);
        }
    }

    private sealed class Releaser : IDisposable
    {
        private SystemLock? _lock;
        public Releaser(SystemLock l) => _lock = l;
        public void Dispose() => Interlocked.Exchange(ref _lock, null)?.Release();
    }
}

/// <summary>
/// State files: a header line (a format name and the SHA-256 of the body) followed by a JSON body. A file whose body
/// does not match its checksum, truncated or edited by hand, is refused, never reinterpreted.
/// </summary>
internal static class StateFile
{
    public static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    public static string Format<T>(string header, T value)
    {
        var body = JsonSerializer.Serialize(value, Json);
        return header + " sha256=" + Hash(body) + "\n" + body;
    }

    /// <summary>Reads and verifies a state file; <paramref name="corrupt"/> makes the error for what is wrong with it.</summary>
    public static T Read<T>(string path, string header, Func<string, Exception> corrupt)
    {
        string text;
        try
        {
            text = File.ReadAllText(path, Encoding.UTF8);
        }
        catch (FileNotFoundException)
        {
            throw corrupt("it is missing");
        }
        var prefix = header + " sha256=";
        var newline = text.IndexOf('\n');
        if (newline < 0 || !text.StartsWith(prefix, StringComparison.Ordinal)) throw corrupt("its header is missing");
        var expected = text.Substring(prefix.Length, newline - prefix.Length).Trim();
        var body = text.Substring(newline + 1);
        if (!string.Equals(Hash(body), expected, StringComparison.Ordinal))
            throw corrupt("its content does not match its checksum (truncated or edited by hand)");
        try
        {
            return JsonSerializer.Deserialize<T>(body, Json) ?? throw corrupt("it is empty");
        }
        catch (JsonException e)
        {
            throw corrupt("it is not valid JSON: " + e.Message);
        }
    }

    public static void WriteFlushed(string path, string content)
    {
        File.Delete(path);
        using var fs = NoFollow.CreateNew(path);
        var bytes = Encoding.UTF8.GetBytes(content);
        fs.Write(bytes, 0, bytes.Length);
        fs.Flush(true);
    }

    /// <summary>
    /// Write, flush to disk, rename: the file is either the old or the new one, never a mixture. The temporary file
    /// is new, of a random name, and opened without following a link.
    /// </summary>
    public static void WriteAtomically(string path, string content) => NoFollow.WriteAtomically(path, content);

    private static string Hash(string body) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(body))).ToLowerInvariant();
}
