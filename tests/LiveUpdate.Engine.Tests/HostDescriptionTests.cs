using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using LiveUpdate.Engine.Backends.Containers;
using LiveUpdate.Engine.Flow;
using Xunit;

namespace LiveUpdate.Engine.Tests;

/// <summary>The description of a Linux host: what it must say before the backend touches anything.</summary>
public class HostDescriptionTests
{
    private static HostDescription Lab() => ContainerLabBuilder.Describe("abc123", new ContainerLabOptions());

    private static string Error(HostDescription d)
    {
        var e = Assert.Throws<LiveUpdateException>(() => d.Validate("host.json"));
        Assert.Equal("HostDescriptionInvalid", e.ErrorId);
        Assert.Equal(ErrorKind.InvalidData, e.Kind);
        return e.Message;
    }

    [Fact]
    public void The_lab_description_is_valid_and_round_trips()
    {
        var d = Lab();
        d.Validate("host.json");
        var folder = Path.Combine(Path.GetTempPath(), "lu-desc-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        try
        {
            d.Save(folder);
            var back = HostDescription.Load(folder);
            Assert.Equal(d.Id, back.Id);
            Assert.Equal(d.Disks!.Select(x => x.Name), back.Disks!.Select(x => x.Name));
            Assert.Equal("/srv/recordd", back.Applications!.Single().DataPath);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void Refuses_a_root_disk_that_is_not_described()
    {
        var d = Lab();
        d.Partitions![0].RootDisks = new List<string> { "sdz" };
        Assert.Contains("sdz", Error(d));
    }

    [Fact]
    public void Refuses_a_disk_outside_dev_or_a_file_outside_the_folder()
    {
        var d = Lab();
        d.Disks![1].File = null;
        d.Disks[1].Device = "/etc/passwd";
        Assert.Contains("not a plain path under /dev", Error(d));
        d = Lab();
        d.Disks![1].File = "../elsewhere.img";
        Assert.Contains("not a plain relative path inside the folder", Error(d));
    }

    [Theory]
    [InlineData("/dev/../tmp/x")]
    [InlineData("/dev/./loop0")]
    [InlineData("/dev/loop0,subvol=/")]
    [InlineData("/dev/loop0 ")]
    [InlineData("/dev//loop0")]
    [InlineData("/dev/loop0\n")]
    [InlineData("/dev/")]
    public void Refuses_a_device_path_that_climbs_out_of_dev_or_carries_a_comma_or_a_control_character(string device)
    {
        var d = Lab();
        d.Disks![1].File = null;
        d.Disks[1].Device = device.Replace("\\n", "\n");
        var message = Error(d);
        Assert.Contains("not a plain path under /dev", message);
        Assert.DoesNotContain("\n", message);
    }

    [Theory]
    [InlineData("/dev/disk/by-id/nvme-SAMPLE_0001")]
    [InlineData("/dev/loop7")]
    [InlineData("/dev/mapper/vg0-lv_data")]
    [InlineData("/dev/disk/by-path/pci-0000:00:1f.2-ata-1")]
    public void Accepts_plain_device_paths(string device)
    {
        var d = Lab();
        d.Disks![1].File = null;
        d.Disks[1].Device = device;
        d.Validate("host.json");
    }

    [Fact]
    public void Refuses_names_that_end_in_a_newline()
    {
        var d = Lab();
        d.Partitions![0].HostName = "lpar1\n";
        Assert.Contains("invalid host name", Error(d));
        d = Lab();
        d.Id = "abc\n";
        Assert.Contains("has id", Error(d));
    }

    [Fact]
    public void An_application_without_a_health_command_needs_a_port_for_the_built_in_check()
    {
        var d = Lab();
        d.Applications![0].Health = null;
        d.Validate("host.json");
        Assert.Equal("tcp 198.18.0.11:7000", ContainerBackend.CheckLabel(d.Applications[0]));
        d.Applications[0].Port = null;
        Assert.Contains("neither a health command nor a port", Error(d));
    }

    [Fact]
    public void Package_lines_escape_what_could_add_a_line_or_a_field()
    {
        Assert.Equal("recordd 2 overlay", ContainerBackend.PackageLine("recordd", "2", "overlay"));
        var line = ContainerBackend.PackageLine("evil", "1\nroot 0 base", "deb");
        Assert.DoesNotContain("\n", line);
        Assert.Equal(3, line.Split(' ').Length);
        Assert.Equal("evil 1\\x0aroot\\x200\\x20base deb", line);
    }

    [Fact]
    public void Refuses_application_data_on_the_root_logical_volume()
    {
        var d = Lab();
        d.Applications![0].DataPath = "/var/lib/recordd";
        Assert.Contains("root logical volume", Error(d));
    }

    [Fact]
    public void Refuses_an_application_without_a_way_to_stop_it()
    {
        var d = Lab();
        d.Applications![0].Stop = new HostDescription.StopDescription { Signal = "TERM" };
        Assert.Contains("no stop", Error(d));
    }

    [Fact]
    public void Refuses_a_disk_given_to_two_partitions()
    {
        var d = ContainerLabBuilder.Describe("abc123", new ContainerLabOptions { PartitionCount = 2 });
        d.Partitions![1].RootDisks = new List<string> { "hdisk0" };
        Assert.Contains("two partitions", Error(d));
    }

    [Fact]
    public void Refuses_an_id_that_cannot_name_links_and_namespaces()
    {
        var d = Lab();
        d.Id = "Has Space";
        Assert.Contains("id", Error(d));
    }

    [Fact]
    public void Finds_the_logical_volume_that_holds_a_path()
    {
        var p = Lab().Partitions![0];
        Assert.Equal("srv", HostDescription.DataVolume(p, "/srv/recordd")!.Name);
        Assert.Equal("srv", HostDescription.DataVolume(p, "/srv")!.Name);
        Assert.Equal("root", HostDescription.DataVolume(p, "/srvx/data")!.Name);
    }

    [Theory]
    [InlineData("198.18.0.1/24", 101, "198.18.0.101/24")]
    [InlineData("10.1.2.3/16", 300, "10.1.1.44/16")]
    public void Derives_an_address_in_the_same_network(string cidr, int host, string expected) => Assert.Equal(expected, HostDescription.WithHostNumber(cidr, host));
}
