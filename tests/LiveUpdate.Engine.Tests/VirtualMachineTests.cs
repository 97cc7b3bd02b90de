using System;
using System.IO;
using System.Linq;
using System.Text.Json.Nodes;
using System.Xml.Linq;
using LiveUpdate.Engine.Backends.VirtualMachine;
using LiveUpdate.Engine.Flow;
using Xunit;

namespace LiveUpdate.Engine.Tests;

/// <summary>The VM backend's pieces that need no libvirt: domain definitions, agent commands, descriptions, paths.</summary>
public class VirtualMachineTests
{
    private static string LabXml() => DomainXml.Lab(new DomainSpec("luab12-lpar1", "lpar1", 128, "/lab/boot/k", "/lab/boot/i", "lpar1", "198.19.20.1/24", "52:54:00:00:00:01",
        "/lab/disks/hdisk0.img", new[] { ("/lab/disks/hdisk1.img", "data1", false) }, "luab12", "/lab/console/lpar1.log", Kvm: false));

    [Fact]
    public void A_lab_domain_boots_its_kernel_directly_with_its_data_disk_on_virtio_scsi()
    {
        var x = XElement.Parse(LabXml());
        Assert.Equal("qemu", x.Attribute("type")!.Value);
        Assert.Equal("/lab/boot/k", x.Element("os")!.Element("kernel")!.Value);
        Assert.Contains("lu.addr=198.19.20.1/24", x.Element("os")!.Element("cmdline")!.Value);
        var disks = DomainXml.Disks(LabXml());
        Assert.Equal("/lab/disks/hdisk0.img", disks["vda"]);
        Assert.Equal("/lab/disks/hdisk1.img", disks["sda"]);
        Assert.True(DomainXml.HasScsi(LabXml()));
        Assert.NotNull(x.Element("features")!.Element("acpi"));
    }

    [Fact]
    public void A_surrogate_is_the_original_definition_with_the_clone_its_own_identity_and_no_data_disk()
    {
        var sur = XElement.Parse(DomainXml.Surrogate(LabXml(), "luab12-lpar1-s4", "lpar1_surrogate", "/lab/disks/hdisk2.img", false,
            "/lab/boot/s/k", "/lab/boot/s/i", "lpar1-sur", "198.19.20.50/24", "52:54:00:aa:bb:cc", "/lab/console/s.log"));
        Assert.Equal("luab12-lpar1-s4", sur.Element("name")!.Value);
        Assert.Null(sur.Element("uuid"));
        var disks = DomainXml.Disks(sur.ToString());
        Assert.Equal(new[] { "vda" }, disks.Keys.ToArray());
        Assert.Equal("/lab/disks/hdisk2.img", disks["vda"]);
        Assert.True(DomainXml.HasScsi(sur.ToString()), "the controller stays for the hot-plug");
        Assert.Equal("52:54:00:aa:bb:cc", sur.Element("devices")!.Element("interface")!.Element("mac")!.Attribute("address")!.Value);
        Assert.Contains("lu.host=lpar1-sur lu.addr=198.19.20.50/24", sur.Element("os")!.Element("cmdline")!.Value);
        Assert.Equal("/lab/boot/s/k", sur.Element("os")!.Element("kernel")!.Value);
    }

    [Fact]
    public void A_guest_keeps_its_own_kernel_arguments_and_boots_as_the_identity_it_is_given()
    {
        var real = LabXml().Replace("console=ttyS0 quiet lu.host=lpar1", "root=/dev/vda1 ro console=ttyS0 quiet lu.host=lpar1", StringComparison.Ordinal);
        var sur = XElement.Parse(DomainXml.Surrogate(real, "luab12-lpar1-s4", "lpar1_surrogate", "/lab/disks/hdisk2.img", false,
            "/lab/boot/s/k", "/lab/boot/s/i", "lpar1-sur", "198.19.20.50/24", "52:54:00:aa:bb:cc", "/lab/console/s.log"));
        Assert.Equal("root=/dev/vda1 ro console=ttyS0 quiet lu.host=lpar1-sur lu.addr=198.19.20.50/24", sur.Element("os")!.Element("cmdline")!.Value);
        // Taking over: the original's identity and the data disks replace what the surrogate had, nothing is repeated.
        var taken = XElement.Parse(DomainXml.WithCommandLine(sur.ToString(), "lpar1", "198.19.20.1/24", "lpar1", new[] { "data1:/srv" }));
        Assert.Equal("root=/dev/vda1 ro console=ttyS0 quiet lu.host=lpar1 lu.addr=198.19.20.1/24 lu.data=data1:/srv", taken.Element("os")!.Element("cmdline")!.Value);
        Assert.Equal("lpar1", taken.Element("title")!.Value);
        Assert.Equal("console=ttyS0 quiet lu.host=h lu.addr=a", DomainXml.CommandLine("h", "a"));
    }

    [Fact]
    public void Agent_commands_carry_arguments_as_json_strings_whatever_they_hold()
    {
        var json = GuestAgent.Command("guest-exec", new JsonObject { ["path"] = "/bin/echo", ["arg"] = new JsonArray("a\"b", "c\nd}", "$(reboot)") });
        var back = JsonNode.Parse(json)!;
        Assert.Equal("guest-exec", back["execute"]!.GetValue<string>());
        Assert.Equal(new[] { "a\"b", "c\nd}", "$(reboot)" }, back["arguments"]!["arg"]!.AsArray().Select(n => n!.GetValue<string>()).ToArray());
        Assert.Equal("/bin/echo 'a\"b' 'x y'", GuestAgent.Quote(new[] { "/bin/echo", "a\"b", "x y" }));
    }

    [Theory]
    [InlineData("6.1.0-57-cloud-amd64", "6.12.117+deb12-cloud-amd64")]
    [InlineData("6.1.0-9-cloud-amd64", "6.1.0-57-cloud-amd64")]
    public void Kernel_releases_order_as_versions(string older, string newer)
    {
        Assert.True(KernelVersionComparer.Instance.Compare(older, newer) < 0);
        Assert.True(KernelVersionComparer.Instance.Compare(newer, older) > 0);
    }

    [Theory]
    [InlineData("/etc/liveupdate/oslevel", true)]
    [InlineData("/lib/modules/6.12.117+deb12-cloud-amd64/kernel/x.ko.xz", true)]
    [InlineData("/etc/../../host", false)]
    [InlineData("/etc/a b", false)]
    [InlineData("/etc/a\nwrite /x /y", false)]
    [InlineData("relative/path", false)]
    public void Offline_edits_take_only_plain_absolute_paths(string path, bool safe) => Assert.Equal(safe, GuestImage.IsSafePath(path));

    [Fact]
    public void An_initramfs_archive_is_newc_with_a_trailer()
    {
        var c = new Cpio();
        c.Folder("bin");
        c.File("init", new byte[] { 1, 2, 3 }, 0x1ED);
        c.Link("bin/sh", "busybox");
        using var m = new MemoryStream();
        c.WriteTo(m);
        var text = System.Text.Encoding.ASCII.GetString(m.ToArray());
        Assert.StartsWith("070701", text);
        Assert.Contains("TRAILER!!!", text);
        Assert.Equal(0, m.Length % 4);
    }

    [Theory]
    [InlineData("device", "/tmp/../dev/sda")]
    [InlineData("device", "/home/disk")]
    [InlineData("file", "disks/a,b.img")]
    [InlineData("uri", "qemu:///system; rm -rf /")]
    [InlineData("twice", "")]
    [InlineData("no-health-no-bridge", "")]
    [InlineData("no-health-no-port", "")]
    [InlineData("health-relative", "recordd-ctl")]
    public void A_host_description_with_unsafe_or_inconsistent_entries_is_refused(string what, string value)
    {
        var d = VmLabBuilder.Describe("ab12cd", new VmLabOptions());
        switch (what)
        {
            case "device": d.Disks![2].File = null; d.Disks[2].Device = value; break;
            case "file": d.Disks![2].File = value; break;
            case "uri": d.Uri = value; break;
            case "twice": d.Partitions![0].DataDisks = new() { "hdisk0" }; break;
            case "no-health-no-bridge": d.CreateBridge = false; break;
            case "no-health-no-port": d.Applications![0].Port = null; break;
            case "health-relative": d.Applications![0].Health = new() { value, "health", "198.19.0.100" }; break;
        }
        var e = Assert.Throws<LiveUpdateException>(() => d.Validate("test"));
        Assert.Equal("HostDescriptionInvalid", e.ErrorId);
    }

    [Fact]
    public void The_lab_description_is_valid()
    {
        var d = VmLabBuilder.Describe("ab12cd", new VmLabOptions());
        d.Validate("test");
        Assert.Equal("luab12cd", d.Bridge);
        Assert.Equal(6, d.Disks!.Count);
    }

    [Fact]
    public void A_health_command_stands_in_for_the_port_where_the_backend_makes_no_bridge()
    {
        var d = VmLabBuilder.Describe("ab12cd", new VmLabOptions());
        Assert.Null(d.Applications![0].Health);
        d.CreateBridge = false;
        d.Applications[0].Health = new() { "/opt/recordd/recordd-ctl", "health", "198.19.0.100" };
        d.Validate("test");
    }

    [Fact]
    public void A_timeline_names_each_part_with_its_own_milliseconds_and_the_total()
    {
        var t = new Timeline();
        t.Mark("first");
        t.Mark("second");
        var parts = t.Parts();
        Assert.Equal(new[] { "first", "second" }, parts.Select(p => p.Name).ToArray());
        Assert.All(parts, p => Assert.True(p.Milliseconds >= 0));
        var text = t.ToString();
        Assert.StartsWith("first ", text);
        Assert.Contains(", second ", text);
        Assert.EndsWith(" ms)", text);
        Assert.Contains("(total ", text);
    }
}
