using System;
using System.Linq;
using LiveUpdate.Engine.Bundles;
using LiveUpdate.Engine.Flow;

namespace LiveUpdate.Engine.Backends;

/// <summary>The kinds of package a backend installs into a clone; a bundle that holds another kind is refused before anything changes.</summary>
internal static class PackageKinds
{
    /// <param name="bundle">The verified bundle.</param>
    /// <param name="backend">The backend's name, as users know it.</param>
    /// <param name="what">What it installs, in words (for the message).</param>
    /// <param name="kinds">The package kinds it installs.</param>
    public static void Require(UpdateBundle bundle, string backend, string what, params string[] kinds)
    {
        var other = bundle.Packages.FirstOrDefault(p => !kinds.Contains(p.Kind, StringComparer.Ordinal));
        if (other is not null)
            throw new LiveUpdateException("PackageKindNotSupported", ErrorKind.InvalidData,
                $"Bundle '{bundle.Name}' holds package {other.Name} of kind '{other.Kind}'; the {backend} backend installs {what}.", bundle.Source);
    }
}
