using System;
using System.IO;
using System.Linq;
using LiveUpdate.Engine.Backends.Power;
using LiveUpdate.Engine.Flow;
using Xunit;

namespace LiveUpdate.Engine.Tests;

/// <summary>The parsers of HMC, VIOS and AIX output, on output captured from real systems (tests/Fixtures/Power/SOURCES.md names each source).</summary>
public sealed class PowerParserTests
{
    private static string Fixture(string name)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var file = Path.Combine(dir.FullName, "tests", "Fixtures", "Power", name);
            if (File.Exists(file)) return File.ReadAllText(file);
        }
        throw new FileNotFoundException("No fixture " + name);
    }

    private static RemoteResult Out(string command, string text, int code = 0) => new("lpar1", command, code, text, "", TimeSpan.Zero);

    /// <summary>The lines a capture of the form "command| |line" holds for one command.</summary>
    private static string Capture(string text, string command) => string.Concat(text.Split('\n')
        .Where(l => l.StartsWith(command + "| |", StringComparison.Ordinal)).Select(l => l.Substring(command.Length + 3) + "\n"));

    [Fact]
    public void Hmc_partitions_in_key_value_form()
    {
        var rows = HmcCommands.Pairs(Out("lssyscfg -r lpar -m 9131-52A-6535CCG", Fixture("hmc-lssyscfg-lpar.txt")), "the partitions");
        Assert.Equal(new[] { "nim1", "vios2", "vios1", "dump" }, rows.Select(r => r["name"]));
        Assert.Equal("Running", rows[0]["state"]);
        Assert.Equal("AIX 6.1 6100-00-01-0748", rows[0]["os_version"]);
        Assert.Equal("192.168.200.235", rows[0]["rmc_ipaddr"]);
        Assert.Equal("Not Activated", rows[3]["state"]);
        Assert.Equal("", rows[3]["rmc_ipaddr"]);
    }

    [Fact]
    public void Hmc_profiles_with_quoted_lists_and_quotes_inside_quotes()
    {
        var rows = HmcCommands.Pairs(Out("lssyscfg -r prof -m 9131-52A-6535CCG", Fixture("hmc-lssyscfg-prof.txt")), "the profiles");
        Assert.Equal(6, rows.Count);
        var nim1 = rows[0];
        Assert.Equal("2/client/2/vios1/2/1,3/client/3/vios2/2/1", nim1["virtual_scsi_adapters"]);
        Assert.Equal(new[] { "2/client/2/vios1/2/1", "3/client/3/vios2/2/1" }, HmcCommands.Split(nim1["virtual_scsi_adapters"]));
        Assert.Equal("6144", nim1["desired_mem"]);
        Assert.Equal("0.3", nim1["desired_proc_units"]);
        Assert.Equal("\"2/1/1/3,4,5/0/1\"", rows[5]["virtual_eth_adapters"]);
        Assert.Equal("none", rows[5]["virtual_scsi_adapters"]);
    }

    [Fact]
    public void Hmc_values_only_with_F_and_the_frame_s_resources()
    {
        var sys = HmcCommands.Values(Out("lssyscfg -r sys -F name,serial_num,state", Fixture("hmc-lssyscfg-sys-F.txt")), 3, required: true);
        Assert.Equal(new[] { "9131-52A-6535CCG", "6535CCG", "Operating" }, sys.Single());
        var proc = HmcCommands.Pairs(Out("lshwres -r proc --level sys", Fixture("hmc-lshwres-proc-sys.txt")), "processors").Single();
        Assert.Equal(("2.0", "1.1"), (proc["configurable_sys_proc_units"], proc["curr_avail_sys_proc_units"]));
        var mem = HmcCommands.Pairs(Out("lshwres -r mem --level sys", Fixture("hmc-lshwres-mem-sys.txt")), "memory").Single();
        Assert.Equal(("32768", "13696"), (mem["configurable_sys_mem"], mem["curr_avail_sys_mem"]));
        Assert.Equal("1:32,1:64,1:128,1:256,1:512", mem["possible_hpt_ratios"]);
        var procs = HmcCommands.Pairs(Out("lshwres -r proc --level lpar", Fixture("hmc-lshwres-proc-lpar.txt")), "processors of partitions");
        Assert.Equal(("nim1", "shared", "0.3"), (procs[0]["lpar_name"], procs[0]["curr_proc_mode"], procs[0]["curr_proc_units"]));
        var mems = HmcCommands.Pairs(Out("lshwres -r mem --level lpar", Fixture("hmc-lshwres-mem-lpar.txt")), "memory of partitions");
        Assert.Equal(new[] { "6144", "6144", "6144", "0" }, mems.Select(m => m["curr_mem"]));
        var scsi = HmcCommands.Pairs(Out("lshwres -r virtualio --rsubtype scsi --level lpar", Fixture("hmc-lshwres-virtualio-scsi.txt")), "adapters");
        Assert.Equal(("server", "nim1", "2"), (scsi[0]["adapter_type"], scsi[0]["remote_lpar_name"], scsi[0]["remote_slot_num"]));
    }

    [Fact]
    public void Hmc_no_results_is_empty_or_an_error_where_results_are_required()
    {
        var none = Out("lssyscfg -r lpar -m SYS -F name", HmcCommands.NoResults + "\n");
        Assert.Empty(HmcCommands.Values(none, 1));
        Assert.Empty(HmcCommands.Pairs(none, "the partitions"));
        Assert.Equal("HmcNoResults", Assert.Throws<LiveUpdateException>(() => HmcCommands.Values(none, 1, required: true, what: "the partitions")).ErrorId);
    }

    [Fact]
    public void Vios_mappings_from_lsmap_all()
    {
        var text = Capture(Fixture("vios-capture.txt"), "lsmap -all");
        var maps = HmcCommands.ParseMappings(Out("lsmap -all", text));
        Assert.Equal(new[] { "vhost0", "vhost1", "vhost2" }, maps.Select(m => m.Vhost));
        Assert.Equal(("U787A.001.0397658-V1-C5", 5, 5), (maps[0].Physloc, maps[0].Slot, maps[0].ClientId));
        Assert.Equal(new[] { ("c5_vtscsi1", "hdisk2"), ("c5_vtscsi2", "hdisk3"), ("c5_vtscsi3", "hdisk4") }, maps[0].Targets);
        Assert.Equal("hdisk10", maps[2].Targets[^1].Backing);
    }

    [Fact]
    public void Aix_disks_from_lspv_with_and_without_PVID_and_status()
    {
        var disks = AixCommands.ParseDisks(Out("lspv", Fixture("aix-lspv.txt")));
        Assert.Equal(new AixDisk("hdisk0", "00fa4b4ada7835e9", "rootvg", true), disks[0]);
        Assert.Equal(new AixDisk("hdisk1", "none", null, false), disks[1]);
        var alt = AixCommands.ParseDisks(Out("lspv", Fixture("aix-lspv-altinst.txt")));
        Assert.Equal(new[] { "altinst_rootvg", "rootvg", "altinst_rootvg", "rootvg" }, alt.Select(d => d.VolumeGroup));
        Assert.Equal(new[] { false, true, false, true }, alt.Select(d => d.Active));
    }

    [Fact]
    public void Aix_volume_group_details_from_lsvg()
    {
        var lines = Fixture("aix-lsvg-testvg.txt").Split('\n');
        var lsvg = string.Join("\n", lines.TakeWhile(l => !l.EndsWith(':'))) + "\n";
        var vg = AixCommands.ParseVolumeGroup(Out("lsvg testvg", lsvg));
        Assert.Equal(new AixVolumeGroup("testvg", "00f6f42a00004c000000017a0bd88942", 16, 2550, 0, 2550, 0, true), vg);
        var pvs = AixCommands.ParsePhysicalVolumes(Out("lsvg -p testvg", Fixture("aix-lsvg-p.txt")));
        Assert.Equal(new[] { ("hdisk2", 1275, 1275), ("hdisk3", 1275, 1275), ("hdisk4", 1275, 1275) }, pvs);
    }

    [Fact]
    public void Aix_logical_volumes_of_a_mirrored_rootvg_show_two_copies()
    {
        var lvs = AixCommands.ParseLogicalVolumes(Out("lsvg -l rootvg", Fixture("aix-lsvg-rootvg-l.txt")));
        Assert.Equal(16, lvs.Count);
        Assert.Equal(new AixLogicalVolume("hd5", "boot", 1, 2, 2, "closed/syncd", "N/A"), lvs[0]);
        Assert.Equal(2, lvs.First(l => l.Name == "hd4").Copies);
        Assert.Equal(1, lvs.First(l => l.Name == "lvbackup").Copies);
        Assert.Equal("/var/adm/ras/livedump", lvs.First(l => l.Name == "livedump").MountPoint);
    }

    [Fact]
    public void Aix_levels_filesets_fixes_and_mounts()
    {
        Assert.Equal("7200-05-05-2246", AixCommands.ParseOsLevel(Out("oslevel -s", Fixture("aix-oslevel-s.txt"))).ToString());
        var sets = AixCommands.ParseFilesets(Out("lslpp -Lc", Fixture("aix-lslpp-Lc.txt")));
        Assert.Equal("7.1.2.0", sets["ICU4C.rte"]);
        Assert.Equal("6.0.0.3", sets["EMC.CLARiiON.fcp.rte"]);
        Assert.Equal(6, sets.Count);
        var fixes = AixCommands.ParseInterimFixes(Out("emgr -l", Fixture("aix-emgr-l.txt")));
        Assert.Equal(new[] { "IJ20785s2a", "IJ17065m3a", "IJ09625s2a", "IJ11550s0a" }, fixes.Select(f => f.Label));
        Assert.Equal("Q", fixes[2].State);
        Assert.Equal("tcpdump CVEs fixed", fixes[0].Abstract);
        Assert.Empty(AixCommands.ParseInterimFixes(Out("emgr -l", "There is no efix data on this system.\n")));
        var mounts = AixCommands.ParseMounts(Out("mount", Fixture("aix-mount.txt")));
        Assert.Equal(new[] { "/", "/usr", "/tmp/testfs", "/tmp", "/home", "/admin", "/proc", "/opt", "/var/adm/ras/livedump" }, mounts);
    }

    [Theory]
    [InlineData("lspv", "hdisk0 00f6 rootvg active extra words\n")]
    [InlineData("lspv", "PV hdisk0 is here\n")]
    [InlineData("oslevel -s", "7.3.2.1\n")]
    [InlineData("lsvg -l rootvg", "rootvg:\nLV NAME  TYPE\nhd5 boot one 2 2 closed/syncd N/A\n")]
    [InlineData("lsvg rootvg", "VOLUME GROUP: rootvg\n")]
    [InlineData("lslpp -Lc", "bos.rte 7.3.2.1\n")]
    [InlineData("openssl dgst -sha256 /f", "d41d8cd98f00b204e9800998ecf8427e /f\n")]
    [InlineData("wc -l /f", "many /f\n")]
    [InlineData("getconf DISK_SIZE /dev/hdisk1", "30 GB\n")]
    [InlineData("mount", "/dev/hd4 on / type jfs2\n")]
    public void Output_that_does_not_parse_is_UnexpectedOutput_naming_the_command_and_the_line(string command, string text)
    {
        var r = Out(command, text);
        Func<object> parse = command switch
        {
            "lspv" => () => AixCommands.ParseDisks(r),
            "oslevel -s" => () => AixCommands.ParseOsLevel(r),
            "lsvg -l rootvg" => () => AixCommands.ParseLogicalVolumes(r),
            "lsvg rootvg" => () => AixCommands.ParseVolumeGroup(r),
            "lslpp -Lc" => () => AixCommands.ParseFilesets(r),
            "wc -l /f" => () => AixCommands.ParseLineCount(r),
            "getconf DISK_SIZE /dev/hdisk1" => () => AixCommands.ParseDiskSize(r),
            "mount" => () => AixCommands.ParseMounts(r),
            _ => () => AixCommands.ParseDigest(r),
        };
        var e = Assert.Throws<LiveUpdateException>(() => parse());
        Assert.Equal("UnexpectedOutput", e.ErrorId);
        Assert.Contains("'" + command + "'", e.Message);
    }

    [Fact]
    public void A_failed_command_is_an_error_with_its_exit_code_never_parsed()
    {
        var e = Assert.Throws<LiveUpdateException>(() => AixCommands.ParseDisks(new RemoteResult("lpar1", "lspv", 2, "", "0516-xxx error\n", TimeSpan.Zero)));
        Assert.Equal("RemoteCommandFailed", e.ErrorId);
        Assert.Contains("exited 2", e.Message);
        Assert.False(AixCommands.ParseDiskOwned(new RemoteResult("lpar1", "getlvodm -j hdisk1", 3, "", "", TimeSpan.Zero)));
        Assert.True(AixCommands.ParseDiskOwned(Out("getlvodm -j hdisk0", "00f6f42a00004c000000017a0bd88942\n")));
    }
}
