using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Net.Sockets;
using System.Text;
using LiveUpdate.Engine.Flow;
using Renci.SshNet;
using Renci.SshNet.Security;

namespace LiveUpdate.Engine.Backends.Power;

/// <summary>
/// The keys of a running SSH agent (the socket <c>SSH_AUTH_SOCK</c> names), for public-key authentication without a
/// key file: the agent lists its identities (SSH_AGENTC_REQUEST_IDENTITIES) and signs each authentication request
/// (SSH_AGENTC_SIGN_REQUEST, with the rsa-sha2-256 flag for RSA keys); the private keys never leave it.
/// </summary>
internal sealed class SshAgentKeySource : IPrivateKeySource
{
    private const byte RequestIdentities = 11, IdentitiesAnswer = 12, SignRequest = 13, SignResponse = 14;
    private const uint RsaSha256 = 2;
    private readonly string _socket;

    private SshAgentKeySource(string socket, IReadOnlyCollection<HostAlgorithm> keys)
    {
        _socket = socket;
        HostKeyAlgorithms = keys;
    }

    public IReadOnlyCollection<HostAlgorithm> HostKeyAlgorithms { get; }

    public static SshAgentKeySource Open()
    {
        var socket = Environment.GetEnvironmentVariable("SSH_AUTH_SOCK");
        if (string.IsNullOrEmpty(socket) || !File.Exists(socket))
            throw new LiveUpdateException("SshAgentUnavailable", ErrorKind.NotEnabled,
                "No SSH agent is running for this session (SSH_AUTH_SOCK is not set or names no socket); pass -Credential or -KeyFilePath, or start ssh-agent and add a key.", socket);
        var reply = Exchange(socket, new[] { RequestIdentities });
        if (reply.Length < 5 || reply[0] != IdentitiesAnswer)
            throw new LiveUpdateException("SshAgentUnavailable", ErrorKind.NotEnabled, "The SSH agent did not list its keys.", socket);
        var count = BinaryPrimitives.ReadUInt32BigEndian(reply.AsSpan(1));
        var at = 5;
        var keys = new List<HostAlgorithm>();
        var source = new SshAgentKeySource(socket, keys);
        for (var i = 0; i < count; i++)
        {
            var blob = ReadString(reply, ref at);
            ReadString(reply, ref at); // comment
            var type = Encoding.ASCII.GetString(ReadString(blob, 0));
            keys.Add(new AgentKey(source, type == "ssh-rsa" ? "rsa-sha2-256" : type, blob, type == "ssh-rsa" ? RsaSha256 : 0));
        }
        if (keys.Count == 0)
            throw new LiveUpdateException("SshAgentUnavailable", ErrorKind.NotEnabled, "The SSH agent holds no key; add one with ssh-add.", socket);
        return source;
    }

    private byte[] Sign(byte[] blob, byte[] data, uint flags)
    {
        var request = new MemoryStream();
        request.WriteByte(SignRequest);
        WriteString(request, blob);
        WriteString(request, data);
        Span<byte> f = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(f, flags);
        request.Write(f);
        var reply = Exchange(_socket, request.ToArray());
        if (reply.Length < 5 || reply[0] != SignResponse)
            throw new LiveUpdateException("SshAgentRefused", ErrorKind.PermissionDenied, "The SSH agent refused to sign the authentication request.", _socket);
        var at = 1;
        return ReadString(reply, ref at);
    }

    private static byte[] Exchange(string path, byte[] message)
    {
        using var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        s.Connect(new UnixDomainSocketEndPoint(path));
        using var stream = new NetworkStream(s);
        var length = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(length, (uint)message.Length);
        stream.Write(length);
        stream.Write(message);
        stream.ReadExactly(length);
        var size = BinaryPrimitives.ReadUInt32BigEndian(length);
        if (size > 256 * 1024) throw new LiveUpdateException("SshAgentRefused", ErrorKind.InvalidData, "The SSH agent sent an oversized answer.", path);
        var reply = new byte[size];
        stream.ReadExactly(reply);
        return reply;
    }

    private static byte[] ReadString(byte[] buffer, ref int at)
    {
        var n = (int)BinaryPrimitives.ReadUInt32BigEndian(buffer.AsSpan(at));
        var s = buffer.AsSpan(at + 4, n).ToArray();
        at += 4 + n;
        return s;
    }

    private static byte[] ReadString(byte[] buffer, int at) => ReadString(buffer, ref at);

    private static void WriteString(Stream s, byte[] data)
    {
        Span<byte> n = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(n, (uint)data.Length);
        s.Write(n);
        s.Write(data);
    }

    /// <summary>One key of the agent: its public blob, and signatures made by the agent (already encoded as name + blob).</summary>
    private sealed class AgentKey : HostAlgorithm
    {
        private readonly SshAgentKeySource _agent;
        private readonly byte[] _blob;
        private readonly uint _flags;

        public AgentKey(SshAgentKeySource agent, string name, byte[] blob, uint flags) : base(name)
        {
            _agent = agent;
            _blob = blob;
            _flags = flags;
        }

        public override byte[] Data => _blob;
        public override byte[] Sign(byte[] data) => _agent.Sign(_blob, data, _flags);
        public override bool VerifySignature(byte[] data, byte[] signature) => false;
    }
}
