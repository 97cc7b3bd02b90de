using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using LiveUpdate.Engine.Flow;

namespace LiveUpdate.Engine.Backends.Host;

/// <summary>
/// What a Linux backend needs on the host: its name (for messages), each tool with the Debian package that installs it,
/// and what only its lab needs besides.
/// </summary>
public sealed record ToolSet(string Backend, IReadOnlyList<(string Tool, string Package)> Tools, IReadOnlyList<(string Tool, string Package)> LabTools, string Manages);

/// <summary>
/// Linux, root and a backend's tools. <see cref="Check"/> names everything that is missing and the Debian package
/// that brings it.
/// </summary>
public static class Prerequisites
{
    private static readonly string[] SearchPath = { "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin" };

    /// <summary>The full path of a tool, or null.</summary>
    public static string? Find(string tool)
    {
        foreach (var dir in SearchPath)
        {
            var path = Path.Combine(dir, tool);
            if (File.Exists(path)) return path;
        }
        return null;
    }

    /// <summary>Why the backend cannot run here, or null when it can.</summary>
    public static LiveUpdateException? Problem(ToolSet set, bool lab)
    {
        if (!OperatingSystem.IsLinux())
            return new LiveUpdateException("LinuxRequired", ErrorKind.NotEnabled, $"The {set.Backend} runs only on Linux.", null);
        if (!Native.IsRoot)
            return new LiveUpdateException("RootRequired", ErrorKind.PermissionDenied,
                $"The {set.Backend} manages {set.Manages} and must run as root.", null);
        var needed = lab ? set.Tools.Concat(set.LabTools) : set.Tools;
        var missing = needed.Where(t => Find(t.Tool) is null).ToList();
        if (missing.Count > 0)
        {
            var packages = string.Join(" ", missing.Select(m => m.Package).Distinct());
            return new LiveUpdateException("ToolMissing", ErrorKind.NotInstalled,
                $"The {set.Backend} needs {string.Join(", ", missing.Select(m => $"{m.Tool} (package {m.Package})"))}; install with: apt-get install {packages}",
                string.Join(",", missing.Select(m => m.Tool)));
        }
        return null;
    }

    /// <summary>Throws the problem, if there is one.</summary>
    public static void Check(ToolSet set, bool lab)
    {
        var problem = Problem(set, lab);
        if (problem is not null) throw problem;
    }

    /// <summary>The full path of a tool the backend needs (its backend checked them all when it connected).</summary>
    internal static string Tool(string name) => Find(name) ?? throw new LiveUpdateException("ToolMissing", ErrorKind.NotInstalled, $"'{name}' is not installed.", name);
}
