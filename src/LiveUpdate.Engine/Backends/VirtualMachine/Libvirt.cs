using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using LiveUpdate.Engine.Flow;

namespace LiveUpdate.Engine.Backends.VirtualMachine;

/// <summary>
/// libvirt's C API (<c>libvirt.so.0</c>, <c>libvirt-qemu.so.0</c>) through P/Invoke: one connection per backend,
/// calls of a millisecond or less where a <c>virsh</c> process costs 20–30 ms (the blackout makes a dozen of them).
/// Every failure becomes a <see cref="LiveUpdateException"/> with libvirt's own message.
/// </summary>
internal static partial class LibvirtNative
{
    private const string Lib = "libvirt.so.0";
    private const string QemuLib = "libvirt-qemu.so.0";

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] public static partial IntPtr virConnectOpen(string? name);
    [LibraryImport(Lib)] public static partial int virConnectClose(IntPtr conn);
    [LibraryImport(Lib)] public static partial int virConnectIsAlive(IntPtr conn);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] public static partial IntPtr virDomainLookupByName(IntPtr conn, string name);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] public static partial IntPtr virDomainDefineXML(IntPtr conn, string xml);
    [LibraryImport(Lib)] public static partial int virDomainCreate(IntPtr dom);
    [LibraryImport(Lib)] public static partial int virDomainDestroy(IntPtr dom);
    [LibraryImport(Lib)] public static partial int virDomainUndefineFlags(IntPtr dom, uint flags);
    [LibraryImport(Lib)] public static partial int virDomainFree(IntPtr dom);
    [LibraryImport(Lib)] public static partial IntPtr virDomainGetXMLDesc(IntPtr dom, uint flags);
    [LibraryImport(Lib)] public static partial int virDomainGetState(IntPtr dom, out int state, out int reason, uint flags);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] public static partial int virDomainBlockCopy(IntPtr dom, string disk, string destXml, IntPtr parameters, int count, uint flags);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] public static partial int virDomainGetBlockJobInfo(IntPtr dom, string disk, out BlockJobInfo info, uint flags);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] public static partial int virDomainBlockJobAbort(IntPtr dom, string disk, uint flags);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] public static partial int virDomainAttachDeviceFlags(IntPtr dom, string xml, uint flags);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] public static partial int virDomainDetachDeviceFlags(IntPtr dom, string xml, uint flags);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] public static partial int virDomainSetMetadata(IntPtr dom, int type, string? metadata, string? key, string? uri, uint flags);
    [LibraryImport(Lib)] public static partial int virConnectNumOfDomains(IntPtr conn);
    [LibraryImport(Lib)] public static partial int virConnectNumOfDefinedDomains(IntPtr conn);
    [LibraryImport(Lib)] public static partial IntPtr virGetLastErrorMessage();
    [LibraryImport(Lib)] public static partial IntPtr virGetLastError();
    [LibraryImport(Lib)] public static partial void virSetErrorFunc(IntPtr userData, IntPtr handler);
    [LibraryImport(Lib)] public static partial void virResetLastError();
    [LibraryImport(QemuLib, StringMarshalling = StringMarshalling.Utf8)] public static partial IntPtr virDomainQemuAgentCommand(IntPtr dom, string cmd, int timeout, uint flags);
    [LibraryImport("libc")] public static partial void free(IntPtr p);

    [StructLayout(LayoutKind.Sequential)]
    public struct BlockJobInfo
    {
        public int Type;
        public ulong Bandwidth;
        public ulong Cur;
        public ulong End;
    }
}

/// <summary>The states libvirt reports for a domain (virDomainState).</summary>
internal enum DomainState { NoState = 0, Running = 1, Blocked = 2, Paused = 3, ShutDown = 4, ShutOff = 5, Crashed = 6, Suspended = 7 }

/// <summary>A block job's progress: bytes copied and bytes to copy (equal once a mirror is ready).</summary>
internal readonly record struct BlockJob(ulong Copied, ulong Total)
{
    public ulong Remaining => Total > Copied ? Total - Copied : 0;
}

/// <summary>A connection to a libvirt daemon (<c>qemu:///system</c>, <c>qemu+ssh://root@host/system</c>, …).</summary>
internal sealed class LibvirtConnection : IDisposable
{
    public const uint BlockCopyReuseExternal = 2, BlockCopyTransientJob = 4, BlockCopySynchronousWrites = 8;
    public const uint AffectLive = 1, AffectConfig = 2;
    private const int MetadataTitle = 1, MetadataElement = 2;
    private static readonly object Setup = new();
    private static bool _quiet;
    private IntPtr _conn;

    private LibvirtConnection(string uri, IntPtr conn)
    {
        Uri = uri;
        _conn = conn;
    }

    public string Uri { get; }

    /// <summary>Whether the library is installed at all (libvirt-clients / libvirt0).</summary>
    public static bool LibraryPresent() => NativeLibrary.TryLoad("libvirt.so.0", out var h) && Release(h) && NativeLibrary.TryLoad("libvirt-qemu.so.0", out var q) && Release(q);

    private static bool Release(IntPtr h)
    {
        NativeLibrary.Free(h);
        return true;
    }

    /// <summary>Connects, or returns null where no daemon answers at <paramref name="uri"/> (the reason in <paramref name="why"/>).</summary>
    public static LibvirtConnection? TryOpen(string uri, out string why)
    {
        if (!LibraryPresent())
        {
            why = "libvirt's library (libvirt0) is not installed";
            return null;
        }
        Quiet();
        var c = LibvirtNative.virConnectOpen(uri);
        if (c == IntPtr.Zero)
        {
            why = LastError();
            return null;
        }
        why = "";
        return new LibvirtConnection(uri, c);
    }

    public static LibvirtConnection Open(string uri) => TryOpen(uri, out var why)
        ?? throw new LiveUpdateException("LibvirtUnavailable", ErrorKind.ResourceUnavailable, $"No libvirt daemon answers at {uri}: {why}", uri);

    /// <summary>libvirt prints every error to standard error unless a handler is set; the errors reach us as exceptions instead.</summary>
    private static unsafe void Quiet()
    {
        lock (Setup)
        {
            if (_quiet) return;
            delegate* unmanaged[Cdecl]<IntPtr, IntPtr, void> handler = &Ignore;
            LibvirtNative.virSetErrorFunc(IntPtr.Zero, (IntPtr)handler);
            _quiet = true;
        }
    }

    [UnmanagedCallersOnly(CallConvs = new[] { typeof(System.Runtime.CompilerServices.CallConvCdecl) })]
    private static void Ignore(IntPtr userData, IntPtr error) { }

    private static string LastError() => Marshal.PtrToStringUTF8(LibvirtNative.virGetLastErrorMessage()) ?? "unknown error";

    private IntPtr Handle => _conn != IntPtr.Zero ? _conn : throw new ObjectDisposedException(nameof(LibvirtConnection));

    public bool Alive => _conn != IntPtr.Zero && LibvirtNative.virConnectIsAlive(_conn) == 1;

    private static LiveUpdateException Fail(string what, string target) =>
        new("LibvirtCallFailed", ErrorKind.DeviceError, $"{what} failed: {LastError()}", target);

    private T WithDomain<T>(string name, string what, Func<IntPtr, T> call)
    {
        var d = LibvirtNative.virDomainLookupByName(Handle, name);
        if (d == IntPtr.Zero)
            throw new LiveUpdateException("DomainNotFound", ErrorKind.ObjectNotFound, $"libvirt at {Uri} has no domain named '{name}' ({what}).", name);
        try
        {
            return call(d);
        }
        finally
        {
            LibvirtNative.virDomainFree(d);
        }
    }

    private void Check(string name, string what, Func<IntPtr, int> call) => WithDomain(name, what, d => call(d) < 0 ? throw Fail($"{what} of {name}", name) : 0);

    /// <summary>How many domains the daemon knows, running or only defined.</summary>
    public int DomainCount() => Math.Max(0, LibvirtNative.virConnectNumOfDomains(Handle)) + Math.Max(0, LibvirtNative.virConnectNumOfDefinedDomains(Handle));

    public bool Exists(string name)
    {
        var d = LibvirtNative.virDomainLookupByName(Handle, name);
        if (d == IntPtr.Zero) return false;
        LibvirtNative.virDomainFree(d);
        return true;
    }

    public DomainState State(string name) => WithDomain(name, "state", d =>
        LibvirtNative.virDomainGetState(d, out var s, out _, 0) < 0 ? throw Fail("Reading the state of " + name, name) : (DomainState)s);

    public bool Running(string name) => Exists(name) && State(name) is DomainState.Running or DomainState.Paused or DomainState.Blocked;

    public string Xml(string name, bool inactive = false) => WithDomain(name, "definition", d =>
    {
        var p = LibvirtNative.virDomainGetXMLDesc(d, inactive ? 2u : 0u);
        if (p == IntPtr.Zero) throw Fail("Reading the definition of " + name, name);
        try
        {
            return Marshal.PtrToStringUTF8(p)!;
        }
        finally
        {
            LibvirtNative.free(p);
        }
    });

    public void Define(string name, string xml)
    {
        var d = LibvirtNative.virDomainDefineXML(Handle, xml);
        if (d == IntPtr.Zero) throw Fail("Defining domain " + name, name);
        LibvirtNative.virDomainFree(d);
    }

    public void Start(string name) => Check(name, "Starting", LibvirtNative.virDomainCreate);
    public void Destroy(string name) => Check(name, "Stopping", LibvirtNative.virDomainDestroy);

    /// <summary>Removes the definition (and any managed save image); the disks stay.</summary>
    public void Undefine(string name) => Check(name, "Undefining", d => LibvirtNative.virDomainUndefineFlags(d, 1 | 2 | 4));

    /// <summary>Starts a block copy of <paramref name="disk"/> onto the file that <paramref name="destXml"/> describes.</summary>
    public void BlockCopy(string name, string disk, string destXml, uint flags) =>
        Check(name, $"Copying disk {disk}", d => LibvirtNative.virDomainBlockCopy(d, disk, destXml, IntPtr.Zero, 0, flags));

    /// <summary>The block job on a disk, or null where none runs.</summary>
    public BlockJob? Job(string name, string disk) => WithDomain(name, "block job", d =>
    {
        var r = LibvirtNative.virDomainGetBlockJobInfo(d, disk, out var info, 0);
        if (r < 0) throw Fail($"Reading the block job of {name} {disk}", name);
        return r == 0 ? (BlockJob?)null : new BlockJob(info.Cur, info.End);
    });

    /// <summary>Ends the block job on a disk; the copy keeps what it held at that instant (no pivot).</summary>
    public void AbortJob(string name, string disk) => Check(name, $"Ending the block job on {disk}", d => LibvirtNative.virDomainBlockJobAbort(d, disk, 0));

    public void Attach(string name, string deviceXml, uint flags = AffectLive) => Check(name, "Attaching a device", d => LibvirtNative.virDomainAttachDeviceFlags(d, deviceXml, flags));
    public void Detach(string name, string deviceXml, uint flags = AffectLive) => Check(name, "Detaching a device", d => LibvirtNative.virDomainDetachDeviceFlags(d, deviceXml, flags));

    /// <summary>Sets the title users see in <c>virsh list --title</c>, on the running domain and its definition.</summary>
    public void SetTitle(string name, string title, bool persistent) =>
        Check(name, "Setting the title", d => LibvirtNative.virDomainSetMetadata(d, MetadataTitle, title, null, null, AffectLive | (persistent ? AffectConfig : 0)));

    /// <summary>Stores an XML element of our own namespace in the domain's metadata.</summary>
    public void SetMetadata(string name, string element, string key, string ns, bool persistent) =>
        Check(name, "Setting metadata", d => LibvirtNative.virDomainSetMetadata(d, MetadataElement, element, key, ns, AffectLive | (persistent ? AffectConfig : 0)));

    /// <summary>Sends one command to the guest agent; null where the agent did not answer in time.</summary>
    public string AgentCommand(string name, string json, int timeoutSeconds) => WithDomain(name, "guest agent", d =>
    {
        var p = LibvirtNative.virDomainQemuAgentCommand(d, json, timeoutSeconds, 0);
        if (p == IntPtr.Zero)
            throw new LiveUpdateException("GuestAgentUnavailable", ErrorKind.ResourceUnavailable, $"The guest agent of {name} did not answer: {LastError()}", name);
        try
        {
            return Marshal.PtrToStringUTF8(p)!;
        }
        finally
        {
            LibvirtNative.free(p);
        }
    });

    public void Dispose()
    {
        var c = System.Threading.Interlocked.Exchange(ref _conn, IntPtr.Zero);
        if (c != IntPtr.Zero) LibvirtNative.virConnectClose(c);
    }
}
