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
    /// PID 1 of a lab guest: host name, address and data disks from the kernel command line (lu.host, lu.addr,
    /// lu.data=SERIAL:MOUNTPOINT,…), the guest agent on its virtio port, then a line on the console.
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
        mkdir -p /dev/virtio-ports
        for p in /sys/class/virtio-ports/*; do [ -r $p/name ] && ln -sf ../${p##*/} /dev/virtio-ports/$(cat $p/name); done
        for d in $(echo "$D" | tr ',' ' '); do /sbin/lu-mount "${d%%:*}" "${d#*:}" 0; done
        qemu-ga -d -m virtio-serial -p /dev/virtio-ports/org.qemu.guest_agent.0 -f /run/qemu-ga.pid -t /run
        echo "LIVEUPDATE READY $(uname -r)" > /dev/ttyS0
        trap 'exit 0' TERM INT
        while :; do sleep 3600 & wait $!; done
        """;

    /// <summary>lu-mount SERIAL MOUNTPOINT [WAIT]: mounts the virtio disk with that serial once it appears (a hot-plug).</summary>
    public const string Mount = """
        #!/bin/sh
        serial=$1; mnt=$2; tries=${3:-500}
        i=0
        while :; do
          for s in /sys/block/vd*/serial; do
            [ -r "$s" ] && [ "$(cat $s)" = "$serial" ] && { dev=${s%/serial}; dev=/dev/${dev##*/}; break 2; }
          done
          for s in /sys/block/sd*/device/vpd_pg80; do
            [ -r "$s" ] && [ "$(tail -c +5 $s | tr -d '\000')" = "$serial" ] && { dev=${s%/device/vpd_pg80}; dev=/dev/${dev##*/}; break 2; }
          done
          [ $i -ge $tries ] && { echo "no disk with serial $serial" >&2; exit 1; }
          usleep 5000; i=$((i+1))
        done
        i=0; while [ ! -b "$dev" ] && [ $i -lt 200 ]; do usleep 10000; i=$((i+1)); done
        mkdir -p "$mnt"
        mount -t ext4 "$dev" "$mnt"
        """;

    /// <summary>lu-umount MOUNTPOINT: flushes and unmounts a data disk (before it leaves the guest).</summary>
    public const string Umount = """
        #!/bin/sh
        grep -q " $1 " /proc/mounts || exit 0
        sync
        i=0
        until umount "$1" 2>/dev/null; do
          [ $i -ge 400 ] && { echo "$1 stays busy" >&2; exit 1; }
          usleep 5000; i=$((i+1))
        done
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
