using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Threading;
using Microsoft.Extensions.Logging;

namespace LiveUpdate.Engine.Backends.Host;

/// <summary>Processes: liveness, command lines, children, pid namespaces, process groups, stopping.</summary>
internal sealed partial class HostTools
{
    public static bool Alive(int pid) => pid > 0 && Directory.Exists("/proc/" + pid) && !IsZombie(pid);

    private static bool IsZombie(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var close = stat.LastIndexOf(')');
            return close > 0 && stat.Length > close + 2 && stat[close + 2] == 'Z';
        }
        catch (IOException)
        {
            return true;
        }
    }

    public static string CommandLine(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ').Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "";
        }
    }

    public static IEnumerable<int> Processes() => Directory.EnumerateDirectories("/proc")
        .Select(Path.GetFileName).Where(n => n is not null && n.All(char.IsDigit)).Select(n => int.Parse(n!, CultureInfo.InvariantCulture));

    public static IReadOnlyList<int> Children(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/task/{pid}/children").Split(' ', StringSplitOptions.RemoveEmptyEntries)
                .Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Array.Empty<int>();
        }
    }

    public static string? PidNamespace(int pid)
    {
        try
        {
            return new FileInfo($"/proc/{pid}/ns/pid").LinkTarget;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>The host process id of a process that has <paramref name="innerPid"/> in the pid namespace of <paramref name="leader"/>.</summary>
    public static int HostPid(int leader, int innerPid)
    {
        var ns = PidNamespace(leader);
        if (ns is null) return 0;
        foreach (var pid in Processes())
        {
            string[] lines;
            try
            {
                lines = File.ReadAllLines($"/proc/{pid}/status");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue;
            }
            var nspid = lines.FirstOrDefault(l => l.StartsWith("NSpid:", StringComparison.Ordinal));
            if (nspid is null) continue;
            var ids = nspid.Substring(6).Split(new[] { ' ', '\t' }, StringSplitOptions.RemoveEmptyEntries);
            if (ids.Length >= 2 && ids[^1] == innerPid.ToString(CultureInfo.InvariantCulture) && PidNamespace(pid) == ns) return pid;
        }
        return 0;
    }

    public static int ProcessGroup(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat.Substring(stat.LastIndexOf(')') + 2).Split(' ');
            return int.Parse(fields[2], CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or ArgumentOutOfRangeException)
        {
            return 0;
        }
    }

    public static IReadOnlyList<int> GroupMembers(int pgid) => Processes().Where(p => ProcessGroup(p) == pgid && Alive(p)).ToList();

    /// <summary>Signals a process group and waits until none of it is left; kills what remains after the timeout.</summary>
    public void StopGroup(int pgid, int signal, TimeSpan timeout)
    {
        if (pgid <= 1) return;
        Native.Kill(-pgid, signal);
        var clock = Stopwatch.StartNew();
        while (GroupMembers(pgid).Count > 0)
        {
            if (clock.Elapsed > timeout)
            {
                Log.LogWarning("Process group {Group} did not stop within {Seconds} s; killing it", pgid, timeout.TotalSeconds);
                Native.Kill(-pgid, Native.SIGKILL);
                clock.Restart();
                while (GroupMembers(pgid).Count > 0 && clock.Elapsed < TimeSpan.FromSeconds(5)) Thread.Sleep(5);
                return;
            }
            Thread.Sleep(2);
        }
    }

    /// <summary>Stops a process: the signal, then SIGKILL after the timeout; waits until it is gone.</summary>
    public static void StopProcess(int pid, TimeSpan timeout)
    {
        if (!Alive(pid)) return;
        Native.Kill(pid, Native.SIGTERM);
        var clock = Stopwatch.StartNew();
        while (Alive(pid) && clock.Elapsed < timeout) Thread.Sleep(10);
        if (!Alive(pid)) return;
        Native.Kill(pid, Native.SIGKILL);
        clock.Restart();
        while (Alive(pid) && clock.Elapsed < TimeSpan.FromSeconds(10)) Thread.Sleep(10);
    }
}
