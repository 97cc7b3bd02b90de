using System;
using System.Linq;
using LiveUpdate.Engine.Backends.Host;
using Xunit;

namespace LiveUpdate.Engine.Tests;

/// <summary>The host plumbing the Linux backends share.</summary>
public class HostToolsTests
{
    [UnixFact]
    public void A_gratuitous_ARP_is_sent_by_busybox_or_iputils_never_by_an_arping_that_waits_for_replies()
    {
        var arp = HostTools.GratuitousArp("eth0", "198.18.0.11");
        if (arp is null)
        {
            Assert.Null(Prerequisites.Find("busybox"));
            return;
        }
        Assert.Equal(new[] { "-U", "-c", "1", "-I", "eth0", "198.18.0.11" }, arp.TakeLast(6));
        if (arp[0].EndsWith("/busybox", StringComparison.Ordinal)) Assert.Equal("arping", arp[1]);
        else
        {
            var version = new CommandRunner().Probe(arp[0], new[] { "-V" });
            Assert.Contains("iputils", version.StandardOutput + version.StandardError);
        }
    }
}
