namespace LiveUpdate.Engine.Backends.VirtualMachine;

/// <summary>The scripts of a lab guest: its initramfs, its init, and the helpers the backend runs through the agent.</summary>
internal static class GuestScripts
{
    /// <summary>The initramfs: load the virtio modules in order, mount the root disk, switch to it.</summary>
    public const string Initramfs = """
        #!/bin/sh
        mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
        for m in $(cat /modules.order); do insmod /lib/modules/$m; done
        i=0; while [ ! -b /dev/vda ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done
        mount -t ext4 -o rw /dev/vda /newroot || { echo "LIVEUPDATE NO ROOT" > /dev/ttyS0; poweroff -f; }
        mount --move /dev /newroot/dev; mount --move /proc /newroot/proc; mount --move /sys /newroot/sys
        exec switch_root /newroot /sbin/init
        """;

    /// <summary>rdinit=/probe: tells on the console that the kernel reached user space, then powers off (the accelerator probe).</summary>
    public const string Probe = """
        #!/bin/sh
        mount -t devtmpfs dev /dev
        echo LIVEUPDATE-PROBE-OK > /dev/ttyS0
        poweroff -f
        """;

    /// <summary>
    /// PID 1 of a lab guest: host name, address (announced with a gratuitous ARP) and data disks from the kernel
    /// command line (lu.host, lu.addr, lu.data=SERIAL:MOUNTPOINT,…), the guest agent on its virtio port, then a line on
    /// the console.
    /// </summary>
    public const string Init = """
        #!/bin/sh
        export PATH=/usr/sbin:/usr/bin:/sbin:/bin
        mount -t tmpfs run /run; mkdir -p /dev/pts /dev/shm; mount -t devpts devpts /dev/pts
        H=; A=; D=
        for x in $(cat /proc/cmdline); do case $x in lu.host=*) H=${x#lu.host=};; lu.addr=*) A=${x#lu.addr=};; lu.data=*) D=${x#lu.data=};; esac; done
        hostname "${H:-$(cat /etc/hostname)}"
        echo 1 > /proc/sys/net/ipv4/conf/all/promote_secondaries; echo 1 > /proc/sys/net/ipv4/conf/default/promote_secondaries
        ip link set lo up; ip link set eth0 up; [ -n "$A" ] && ip addr add "$A" dev eth0
        # A surrogate boots with an address an earlier one had: neighbours still send it to the old one's link address
        # until they hear of this one (the backend's TCP health check asks this address).
        [ -n "$A" ] && { arping -U -c 1 -w 1 -I eth0 "${A%/*}" >/dev/null 2>&1 & }
        mkdir -p /dev/virtio-ports
        for p in /sys/class/virtio-ports/*; do [ -r $p/name ] && ln -sf ../${p##*/} /dev/virtio-ports/$(cat $p/name); done
        for d in $(echo "$D" | tr ',' ' '); do /sbin/lu-mount "${d%%:*}" "${d#*:}" 0; done
        qemu-ga -d -m virtio-serial -p /dev/virtio-ports/org.qemu.guest_agent.0 -f /run/qemu-ga.pid -t /run
        echo "LIVEUPDATE READY $(uname -r)" > /dev/ttyS0
        trap 'exit 0' TERM INT
        while :; do sleep 3600 & wait $!; done
        """;

    /// <summary>
    /// lu-mount SERIAL MOUNTPOINT [WAIT]: mounts the disk with that serial once it appears (a hot-plug); nothing where
    /// the mount point is mounted already. Shell built-ins only where it polls: under TCG every process costs.
    /// </summary>
    public const string Mount = """
        #!/bin/sh
        serial=$1; mnt=$2; tries=${3:-500}
        while read -r x at rest; do [ "$at" = "$mnt" ] && exit 0; done < /proc/mounts
        i=0
        while :; do
          for s in /sys/block/vd*/serial; do
            [ -r "$s" ] || continue
            read -r v < "$s"
            [ "$v" = "$serial" ] && { dev=${s%/serial}; dev=/dev/${dev##*/}; break 2; }
          done
          for s in /sys/block/sd*/device/vpd_pg80; do
            [ -r "$s" ] || continue
            # The unit serial number page: read drops its NUL bytes, leaving the page code and the length before the
            # serial; a length byte that is a newline ends the read early, and the slow way reads the page then.
            read -r v < "$s"; v=${v#??}
            [ -n "$v" ] || v=$(tail -c +5 "$s" | tr -d '\000')
            [ "$v" = "$serial" ] && { dev=${s%/device/vpd_pg80}; dev=/dev/${dev##*/}; break 2; }
          done
          [ $i -ge $tries ] && { echo "no disk with serial $serial" >&2; exit 1; }
          usleep 5000; i=$((i+1))
        done
        i=0; while [ ! -b "$dev" ] && [ $i -lt 200 ]; do usleep 10000; i=$((i+1)); done
        [ -d "$mnt" ] || mkdir -p "$mnt"
        mount -t ext4 "$dev" "$mnt"
        """;

    /// <summary>lu-umount MOUNTPOINT: unmounts a data disk (which writes it back) before it leaves the guest; nothing where it is not mounted.</summary>
    public const string Umount = """
        #!/bin/sh
        m=; while read -r x at rest; do [ "$at" = "$1" ] && m=1; done < /proc/mounts
        [ -n "$m" ] || exit 0
        i=0
        until umount "$1" 2>/dev/null; do
          [ $i -ge 400 ] && { echo "$1 stays busy" >&2; exit 1; }
          usleep 5000; i=$((i+1))
        done
        """;

    /// <summary>
    /// lu-move-out MOUNTPOINT [PROGRAM ARG...]: the source's half of a blackout in one command: runs the application's
    /// stop command (its argument vector, no shell), then flushes and unmounts its data disk.
    /// </summary>
    public const string MoveOut = """
        #!/bin/sh
        mnt=$1; shift
        if [ $# -gt 0 ]; then "$@" || { rc=$?; echo "the stop command $1 exited with $rc" >&2; exit $rc; }; fi
        exec /sbin/lu-umount "$mnt"
        """;

    /// <summary>
    /// lu-move-in SERIAL MOUNTPOINT [CIDR ADDRESS PROGRAM ARG...]: the destination's half of a blackout in one command:
    /// mounts the plugged-in data disk, starts the application (its argument vector, no shell), then takes the service
    /// address and announces it with a gratuitous ARP (the source lets it go afterwards: make before break).
    /// </summary>
    public const string MoveIn = """
        #!/bin/sh
        serial=$1; mnt=$2; shift 2
        /sbin/lu-mount "$serial" "$mnt" || exit $?
        [ $# -ge 3 ] || exit 0
        cidr=$1; address=$2; shift 2
        "$@" || { rc=$?; echo "the start command $1 exited with $rc" >&2; exit 86; }
        ip addr replace "$cidr" dev eth0 || exit $?
        arping -U -c 1 -w 1 -I eth0 "$address" >/dev/null 2>&1
        exit 0
        """;

    /// <summary>recordd-stop: ends recordd's process group and waits until it is gone.</summary>
    public const string RecorddStop = """
        #!/bin/sh
        PIDFILE=/run/recordd.pid
        [ -r $PIDFILE ] || exit 0
        pid=$(cat $PIDFILE)
        kill -TERM -$pid 2>/dev/null
        i=0; while kill -0 -$pid 2>/dev/null; do
          [ $i -ge 1000 ] && kill -KILL -$pid 2>/dev/null
          usleep 5000; i=$((i+1))
        done
        rm -f $PIDFILE
        rmdir /run/recordd.lock 2>/dev/null
        exit 0
        """;
}
