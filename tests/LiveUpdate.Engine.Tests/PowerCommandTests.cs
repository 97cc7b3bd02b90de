using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using LiveUpdate.Engine.Backends.Power;
using LiveUpdate.Engine.Flow;
using Xunit;

namespace LiveUpdate.Engine.Tests;

/// <summary>The one quoting function of remote commands, HMC attribute lists and the known-hosts file.</summary>
public sealed class PowerCommandTests
{
    public static IEnumerable<object[]> Arguments() => new[]
    {
        new object[] { new[] { "lspv" } },
        new object[] { new[] { "alt_disk_copy", "-d", "hdisk1 hdisk3", "-B" } },
        new object[] { new[] { "echo", "it's", "\"quoted\"", "a b  c", "" } },
        new object[] { new[] { "x", "$(id)", "`id`", "${HOME}", "$HOME", "a;b", "a|b", "a&b", "a>b", "<a", "*", "?", "[a]", "~root", "#c" } },
        new object[] { new[] { "x", "line\nbreak", "tab\there", "back\\slash", "'", "''", "\\'" } },
        new object[] { new[] { "mksyscfg", "-i", "name=a,\"virtual_scsi_adapters=2/client//vios1/12/1\"" } },
    };

    [Theory]
    [MemberData(nameof(Arguments))]
    public void A_POSIX_shell_splits_the_quoted_line_back_into_the_same_arguments(string[] argv)
    {
        var line = RemoteCommand.Quote(argv);
        Assert.Equal(argv, ShellSplit(line));
    }

    [Fact]
    public void Plain_words_stay_as_they_are_and_the_rest_is_single_quoted()
    {
        Assert.Equal("lsvg -l rootvg", RemoteCommand.Quote("lsvg", "-l", "rootvg"));
        Assert.Equal("chdev -l en0 -a alias4=10.0.0.31,255.255.255.0", RemoteCommand.Quote("chdev", "-l", "en0", "-a", "alias4=10.0.0.31,255.255.255.0"));
        Assert.Equal("echo 'a b' 'it'\\''s' ''", RemoteCommand.Quote("echo", "a b", "it's", ""));
    }

    [Fact]
    public void A_command_for_the_VIOS_survives_being_quoted_twice_through_viosvrcmd()
    {
        var inner = new[] { "mkvdev", "-vdev", "hdisk1", "-vadapter", "vhost1", "-dev", "lu 12'x" };
        var outer = HmcCommands.OnVios("Server-1", "vios1", inner);
        var atHmc = ShellSplit(RemoteCommand.Quote(outer));
        Assert.Equal(outer, atHmc);
        Assert.Equal(inner, ShellSplit(atHmc[^1]));
    }

    [Theory]
    [InlineData("nul\0")]
    [InlineData("bell\a")]
    [InlineData("esc\u001b[0m")]
    [InlineData("cr\r")]
    public void Control_characters_are_refused(string bad)
    {
        var e = Assert.Throws<LiveUpdateException>(() => RemoteCommand.Quote("echo", bad));
        Assert.Equal("RemoteArgumentInvalid", e.ErrorId);
        Assert.Throws<LiveUpdateException>(() => RemoteCommand.Quote(Array.Empty<string>()));
    }

    [Fact]
    public void HMC_attribute_lists_quote_a_pair_with_a_comma_and_split_back()
    {
        var attrs = new Dictionary<string, string> { ["name"] = "lpar1_surrogate", ["virtual_eth_adapters"] = "4/0/1//0/0,5/0/2//0/0", ["note"] = "say \"hi\"" };
        var text = HmcCommands.Attributes(attrs);
        Assert.Equal("name=lpar1_surrogate,\"virtual_eth_adapters=4/0/1//0/0,5/0/2//0/0\",\"note=say \"\"hi\"\"\"", text);
        Assert.Equal(new[] { "name=lpar1_surrogate", "virtual_eth_adapters=4/0/1//0/0,5/0/2//0/0", "note=say \"hi\"" }, HmcCommands.Split(text));
        Assert.Null(HmcCommands.Split("a=\"unclosed"));
        Assert.Throws<LiveUpdateException>(() => HmcCommands.Attributes(new Dictionary<string, string> { ["Bad Key"] = "x" }));
    }

    // ------------------------------------------------------------------ known hosts

    private static readonly byte[] KeyA = Encoding.ASCII.GetBytes("ssh-ed25519 key A");
    private static readonly byte[] KeyB = Encoding.ASCII.GetBytes("ssh-ed25519 key B");

    private static string Folder()
    {
        var dir = Path.Combine(Path.GetTempPath(), "lu-known-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return dir;
    }

    private static string Line(string hosts, byte[] key) => $"{hosts} ssh-ed25519 {Convert.ToBase64String(key)}";

    [Fact]
    public void A_host_is_known_unknown_or_changed_by_its_entries_of_the_same_key_type()
    {
        var dir = Folder();
        try
        {
            var file = Path.Combine(dir, "known_hosts");
            var salt = RandomNumberGenerator.GetBytes(20);
            var hashed = "|1|" + Convert.ToBase64String(salt) + "|" + Convert.ToBase64String(new HMACSHA1(salt).ComputeHash(Encoding.ASCII.GetBytes("[hmc02]:2222")));
            File.WriteAllLines(file, new[]
            {
                "# comment", Line("hmc01,10.0.0.2", KeyA), Line(hashed, KeyB), Line("*.lab,!bad.lab", KeyA), "@revoked " + Line("old.lab", KeyB),
                "hmc01 ssh-rsa " + Convert.ToBase64String(KeyB),
            });
            var k = KnownHosts.Open(file);
            Assert.Equal(HostKeyMatch.Known, k.Verify("hmc01", 22, "ssh-ed25519", KeyA));
            Assert.Equal(HostKeyMatch.Known, k.Verify("10.0.0.2", 22, "ssh-ed25519", KeyA));
            Assert.Equal(HostKeyMatch.Changed, k.Verify("hmc01", 22, "ssh-ed25519", KeyB));
            Assert.Equal(HostKeyMatch.Known, k.Verify("hmc01", 22, "rsa-sha2-256", KeyB));
            Assert.Equal(HostKeyMatch.Unknown, k.Verify("hmc01", 2222, "ssh-ed25519", KeyA));
            Assert.Equal(HostKeyMatch.Known, k.Verify("hmc02", 2222, "ssh-ed25519", KeyB));
            Assert.Equal(HostKeyMatch.Changed, k.Verify("hmc02", 2222, "ssh-ed25519", KeyA));
            Assert.Equal(HostKeyMatch.Known, k.Verify("a.lab", 22, "ssh-ed25519", KeyA));
            Assert.Equal(HostKeyMatch.Unknown, k.Verify("bad.lab", 22, "ssh-ed25519", KeyA));
            Assert.Equal(HostKeyMatch.Changed, k.Verify("old.lab", 22, "ssh-ed25519", KeyB));
            Assert.Equal(HostKeyMatch.Unknown, k.Verify("other", 22, "ssh-ed25519", KeyA));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void A_new_entry_is_appended_to_an_owner_only_file_and_known_from_then_on()
    {
        var dir = Folder();
        try
        {
            var file = Path.Combine(dir, "sub", "known_hosts");
            var k = KnownHosts.Open(file);
            k.Add("10.0.0.11", 22, "ssh-ed25519", KeyA);
            k.Add("hmc03", 2022, "ssh-ed25519", KeyB);
            Assert.Equal(new[] { Line("10.0.0.11", KeyA), Line("[hmc03]:2022", KeyB) }, File.ReadAllLines(file));
            var again = KnownHosts.Open(file);
            Assert.Equal(HostKeyMatch.Known, again.Verify("10.0.0.11", 22, "ssh-ed25519", KeyA));
            Assert.Equal(HostKeyMatch.Known, again.Verify("hmc03", 2022, "ssh-ed25519", KeyB));
            if (!OperatingSystem.IsWindows()) Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void A_file_or_folder_that_others_can_write_is_not_trusted()
    {
        if (OperatingSystem.IsWindows()) return; // Unix modes only
        var dir = Folder();
        try
        {
            var file = Path.Combine(dir, "known_hosts");
            File.WriteAllText(file, Line("hmc01", KeyA) + "\n");
            File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherWrite);
            Assert.Equal("KnownHostsNotTrusted", Assert.Throws<LiveUpdateException>(() => KnownHosts.Open(file)).ErrorId);
            File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute);
            Assert.Equal("KnownHostsNotTrusted", Assert.Throws<LiveUpdateException>(() => KnownHosts.Open(file)).ErrorId);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    /// <summary>How /bin/sh splits a command line: each word it sees, printed NUL-terminated.</summary>
    private static string[] ShellSplit(string line)
    {
        var psi = new ProcessStartInfo("/bin/sh") { RedirectStandardOutput = true, UseShellExecute = false };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("printf '%s\\0' " + line);
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
        return output.Split('\0')[..^1];
    }
}
