using System;
using System.IO;
using System.Linq;

namespace LiveUpdate.Engine.Backends.Host;

/// <summary>Network namespaces, links and addresses through ip(8).</summary>
internal sealed partial class HostTools
{
    public static bool NamespaceExists(string name) => File.Exists("/run/netns/" + name);

    public void AddNamespace(string name)
    {
        if (NamespaceExists(name)) return;
        Run("ip", "netns", "add", name);
    }

    public void DeleteNamespace(string name)
    {
        if (!NamespaceExists(name)) return;
        Run("ip", "netns", "delete", name);
    }

    /// <summary><c>ip [-n ns] args</c>.</summary>
    public CommandResult Ip(string? ns, params string[] args) => ns is null ? Run("ip", args) : Run("ip", new[] { "-n", ns }.Concat(args).ToArray());
    public CommandResult ProbeIp(string? ns, params string[] args) => ns is null ? Probe("ip", args) : Probe("ip", new[] { "-n", ns }.Concat(args).ToArray());

    public bool LinkExists(string? ns, string link) => ProbeIp(ns, "link", "show", "dev", link).Succeeded;

    /// <summary>
    /// Deletes a link if it is there. The kernel removes the peer of a veth pair by itself, later, when the namespace of
    /// the other end goes, so a link seen a moment ago may be gone by the time it is deleted: that is success too.
    /// </summary>
    public void DeleteLink(string? ns, string link)
    {
        if (!LinkExists(ns, link)) return;
        var r = ProbeIp(ns, "link", "delete", link);
        if (!r.Succeeded && LinkExists(ns, link)) Ip(ns, "link", "delete", link);
    }

    public bool HasAddress(string? ns, string link, string cidr)
    {
        var r = ProbeIp(ns, "-o", "addr", "show", "dev", link);
        return r.Succeeded && r.StandardOutput.Split(' ', '\n').Contains(cidr);
    }

    public void AddAddress(string? ns, string link, string cidr)
    {
        if (!HasAddress(ns, link, cidr)) Ip(ns, "addr", "add", cidr, "dev", link);
    }

    public void DeleteAddress(string? ns, string link, string cidr)
    {
        if (HasAddress(ns, link, cidr)) Ip(ns, "addr", "del", cidr, "dev", link);
    }

    private static readonly Lazy<string?> IputilsArping = new(() =>
    {
        var arping = Prerequisites.Find("arping");
        if (arping is null) return null;
        var version = new CommandRunner().Probe(arping, new[] { "-V" }, timeout: TimeSpan.FromSeconds(5));
        return (version.StandardOutput + version.StandardError).Contains("iputils", StringComparison.Ordinal) ? arping : null;
    });

    /// <summary>
    /// The command that sends one gratuitous ARP for an address from a link, so that neighbours update their caches:
    /// busybox's arping, or iputils' (the arping of the Debian package <c>arping</c> takes other options and waits for
    /// replies that never come); null when neither is installed.
    /// </summary>
    public static string[]? GratuitousArp(string link, string address)
    {
        var arping = Prerequisites.Find("busybox") is { } busybox ? new[] { busybox, "arping" } : IputilsArping.Value is { } iputils ? new[] { iputils } : null;
        return arping?.Concat(new[] { "-U", "-c", "1", "-I", link, address }).ToArray();
    }
}

/// <summary>
/// A TCP connection made from inside a network namespace without starting a process: a new thread enters the
/// namespace (setns), makes the socket there and connects; the socket stays in that namespace, the thread ends.
/// </summary>
internal static class NamespacedTcp
{
    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "setns", SetLastError = true)]
    private static extern int sys_setns(int fd, int nstype);

    private const int CLONE_NEWNET = 0x40000000;

    /// <summary>True when something accepts a TCP connection on the address and port, as seen from the namespace (null: this process's own).</summary>
    public static bool Answers(string? netns, string address, int port, TimeSpan timeout)
    {
        var answered = false;
        var thread = new System.Threading.Thread(() =>
        {
            var fd = -1;
            try
            {
                if (netns is not null)
                {
                    fd = Native.OpenAt(Native.AT_FDCWD, "/run/netns/" + netns, Native.O_RDONLY, 0, out _);
                    if (fd < 0 || sys_setns(fd, CLONE_NEWNET) != 0) return;
                }
                using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
                using var cancel = new System.Threading.CancellationTokenSource(timeout);
                socket.ConnectAsync(System.Net.IPAddress.Parse(address), port, cancel.Token).AsTask().GetAwaiter().GetResult();
                answered = socket.Connected;
                socket.Shutdown(System.Net.Sockets.SocketShutdown.Both);
            }
            catch (Exception e) when (e is System.Net.Sockets.SocketException or OperationCanceledException or ObjectDisposedException)
            {
                answered = false;
            }
            finally
            {
                if (fd >= 0) Native.Close(fd);
            }
        }) { IsBackground = true, Name = "LiveUpdate TCP check" };
        thread.Start();
        return thread.Join(timeout + TimeSpan.FromSeconds(1)) && answered;
    }
}
