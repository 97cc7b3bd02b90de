using System.Net;

namespace LiveUpdate.Engine.Backends.Host;

/// <summary>IPv4 addresses with a prefix (198.18.0.1/24), as host descriptions name partitions and services.</summary>
public static class Cidr
{
    public static bool TryParse(string text, out IPAddress address, out int prefix)
    {
        address = IPAddress.None;
        prefix = 0;
        var parts = text.Split('/');
        if (parts.Length != 2 || !IPAddress.TryParse(parts[0], out var a) || a.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork) return false;
        if (!int.TryParse(parts[1], out prefix) || prefix is < 1 or > 32) return false;
        address = a;
        return true;
    }

    /// <summary>The address of a CIDR without its prefix.</summary>
    public static string Host(string cidr) => cidr.Split('/')[0];

    /// <summary>The address in the same network with the given host number (e.g. .101 of 198.18.0.1/24).</summary>
    public static string WithHostNumber(string cidr, int number)
    {
        TryParse(cidr, out var a, out var prefix);
        var bytes = a.GetAddressBytes();
        var value = (uint)(bytes[0] << 24 | bytes[1] << 16 | bytes[2] << 8 | bytes[3]);
        var mask = prefix == 32 ? 0xffffffffu : ~(0xffffffffu >> prefix);
        var host = (uint)number & ~mask;
        var result = (value & mask) | host;
        return $"{result >> 24}.{(result >> 16) & 255}.{(result >> 8) & 255}.{result & 255}/{prefix}";
    }
}
