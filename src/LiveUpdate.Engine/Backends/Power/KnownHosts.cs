using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using LiveUpdate.Engine.Flow;

namespace LiveUpdate.Engine.Backends.Power;

public enum HostKeyMatch { Known, Unknown, Changed }

/// <summary>
/// An OpenSSH known-hosts file: <c>host[,host...] key-type base64-key [comment]</c> per line, a host written as
/// <c>[host]:port</c> for a port other than 22, or hashed (<c>|1|salt|hash</c>, HMAC-SHA1 of the host name keyed by
/// the salt); <c>*</c> and <c>?</c> patterns, <c>!</c> negations and <c>@revoked</c> lines are honoured. A host whose
/// entries hold keys of the presented type but none equal to it has changed its key; one without an entry of that
/// type is unknown. The file is trusted only when neither it nor its folder can be written by another user (a
/// sticky folder such as /tmp aside); new entries are appended to a file created owner-only.
/// </summary>
public sealed class KnownHosts
{
    private readonly List<Entry> _entries = new();

    private KnownHosts(string path) => Path = path;

    public string Path { get; }

    private sealed record Entry(string? Marker, string[] Patterns, string KeyType, byte[] Key);

    public static string DefaultPath => System.IO.Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".ssh", "known_hosts");

    public static KnownHosts Open(string path)
    {
        var full = System.IO.Path.GetFullPath(path);
        var k = new KnownHosts(full);
        CheckNotWritableByOthers(full);
        if (!File.Exists(full)) return k;
        var info = new FileInfo(full);
        if (info.Length > 16 * 1024 * 1024)
            throw new LiveUpdateException("KnownHostsInvalid", ErrorKind.InvalidData, $"The known-hosts file '{full}' is larger than 16 MiB.", full);
        foreach (var raw in File.ReadLines(full))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            var parts = line.Split((char[])null!, StringSplitOptions.RemoveEmptyEntries);
            string? marker = null;
            if (parts[0].StartsWith('@'))
            {
                marker = parts[0];
                parts = parts.Skip(1).ToArray();
            }
            if (parts.Length < 3) continue;
            byte[] key;
            try
            {
                key = Convert.FromBase64String(parts[2]);
            }
            catch (FormatException)
            {
                continue;
            }
            k._entries.Add(new Entry(marker, parts[0].Split(','), parts[1], key));
        }
        return k;
    }

    private static void CheckNotWritableByOthers(string file)
    {
        if (OperatingSystem.IsWindows()) return;
        const UnixFileMode others = UnixFileMode.GroupWrite | UnixFileMode.OtherWrite;
        if (File.Exists(file) && (File.GetUnixFileMode(file) & others) != 0)
            throw new LiveUpdateException("KnownHostsNotTrusted", ErrorKind.PermissionDenied,
                $"The known-hosts file '{file}' can be written by other users; it is not trusted (chmod go-w).", file);
        var dir = System.IO.Path.GetDirectoryName(file);
        if (dir is not null && Directory.Exists(dir))
        {
            var mode = File.GetUnixFileMode(dir);
            if ((mode & others) != 0 && (mode & UnixFileMode.StickyBit) == 0)
                throw new LiveUpdateException("KnownHostsNotTrusted", ErrorKind.PermissionDenied,
                    $"The folder of the known-hosts file '{file}' can be written by other users; it is not trusted.", file);
        }
    }

    /// <summary>The pattern a host is written as: the name for port 22, [name]:port otherwise.</summary>
    public static string HostPattern(string host, int port) => port == 22 ? host : $"[{host}]:{port}";

    public HostKeyMatch Verify(string host, int port, string keyType, byte[] key)
    {
        var name = HostPattern(host, port);
        var matching = _entries.Where(e => Matches(e.Patterns, name) && SameFamily(e.KeyType, keyType)).ToList();
        if (matching.Any(e => e.Marker == "@revoked" && e.Key.AsSpan().SequenceEqual(key))) return HostKeyMatch.Changed;
        var plain = matching.Where(e => e.Marker is null).ToList();
        if (plain.Count == 0) return HostKeyMatch.Unknown;
        return plain.Any(e => e.Key.AsSpan().SequenceEqual(key)) ? HostKeyMatch.Known : HostKeyMatch.Changed;
    }

    /// <summary>Appends an entry (the file is created owner-only, never through a link).</summary>
    public void Add(string host, int port, string keyType, byte[] key)
    {
        var dir = System.IO.Path.GetDirectoryName(Path)!;
        if (!Directory.Exists(dir))
        {
            if (OperatingSystem.IsWindows()) Directory.CreateDirectory(dir);
            else Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        if (new FileInfo(Path).LinkTarget is not null)
            throw new LiveUpdateException("KnownHostsNotTrusted", ErrorKind.PermissionDenied, $"The known-hosts file '{Path}' is a link; it is not written.", Path);
        var options = new FileStreamOptions { Mode = FileMode.Append, Access = FileAccess.Write, Share = FileShare.Read };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using (var fs = new FileStream(Path, options))
        {
            var line = Encoding.ASCII.GetBytes($"{HostPattern(host, port)} {keyType} {Convert.ToBase64String(key)}\n");
            fs.Write(line, 0, line.Length);
            fs.Flush(true);
        }
        _entries.Add(new Entry(null, new[] { HostPattern(host, port) }, keyType, key));
    }

    /// <summary>The SHA-256 fingerprint as ssh-keygen -l prints it.</summary>
    public static string Fingerprint(byte[] key) => "SHA256:" + Convert.ToBase64String(SHA256.HashData(key)).TrimEnd('=');

    // rsa-sha2-256 and rsa-sha2-512 are signatures of an ssh-rsa key; the file names the key's type.
    private static bool SameFamily(string a, string b) => Family(a) == Family(b);
    private static string Family(string t) => t is "rsa-sha2-256" or "rsa-sha2-512" ? "ssh-rsa" : t;

    private static bool Matches(string[] patterns, string name)
    {
        var matched = false;
        foreach (var p in patterns)
        {
            if (p.StartsWith("|1|", StringComparison.Ordinal))
            {
                if (HashedMatches(p, name)) matched = true;
                continue;
            }
            var negated = p.StartsWith('!');
            var pattern = negated ? p.Substring(1) : p;
            if (!Wildcard(pattern, name)) continue;
            if (negated) return false;
            matched = true;
        }
        return matched;
    }

    private static bool HashedMatches(string pattern, string name)
    {
        var parts = pattern.Split('|');
        if (parts.Length != 4) return false;
        try
        {
            using var hmac = new HMACSHA1(Convert.FromBase64String(parts[2]));
            return hmac.ComputeHash(Encoding.ASCII.GetBytes(name)).AsSpan().SequenceEqual(Convert.FromBase64String(parts[3]));
        }
        catch (FormatException)
        {
            return false;
        }
    }

    private static bool Wildcard(string pattern, string name)
    {
        int p = 0, n = 0, star = -1, mark = 0;
        while (n < name.Length)
        {
            if (p < pattern.Length && (pattern[p] == '?' || char.ToLowerInvariant(pattern[p]) == char.ToLowerInvariant(name[n])))
            {
                p++;
                n++;
            }
            else if (p < pattern.Length && pattern[p] == '*')
            {
                star = p++;
                mark = n;
            }
            else if (star >= 0)
            {
                p = star + 1;
                n = ++mark;
            }
            else return false;
        }
        while (p < pattern.Length && pattern[p] == '*') p++;
        return p == pattern.Length;
    }
}
