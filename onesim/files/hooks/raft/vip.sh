#!/bin/bash
# -------------------------------------------------------------------------- #
# Raft hook of the simulated OpenNebula front-end (onesim): moves the        #
# floating IP(s) and the single-instance services with the Raft role.        #
#                                                                            #
# Usage: vip.sh <leader|follower> <iface> <ip/cidr> [<iface> <ip/cidr> ...]  #
#                                                                            #
# Behaviour of OpenNebula's share/hooks/raft/vip.sh (6.10/7.0):              #
#  * runs are serialised with flock on /var/lock/one/vip_sh                  #
#    ($ONE_LOCATION/var/lock/vip_sh); a lock that cannot be taken is ignored #
#  * leader: ip address add, then 5 rounds of arping -U / sleep 1 /          #
#    arping -A / sleep 1 per VIP; follower: ip address del when present      #
#  * missing interface/IP or unknown action: message on stderr, exit 1;      #
#    failures of ip/arping/service do not change the exit code               #
# -------------------------------------------------------------------------- #

ACTION="$1"
shift

if [ -z "$ONE_LOCATION" ]; then
    LOCK_FILE=/var/lock/one/vip_sh
else
    LOCK_FILE=$ONE_LOCATION/var/lock/vip_sh
fi

# The real hook runs as oneadmin and always prefixes "sudo -n" (sudoers alias ONE_HA). When it
# already runs as root (the lab runs oned as root) sudo is not needed and may be absent.
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo -n"
else
    SUDO=""
fi

if ( : >>"$LOCK_FILE" ) 2>/dev/null; then
    exec 56>>"$LOCK_FILE"
    flock -w 60 56
fi

case "$ACTION" in
    leader|follower) ;;
    *)
        echo "Unknown action '$ACTION'" >&2
        exit 1
        ;;
esac

while [ $# -gt 0 ]; do
    INTERFACE="$1"
    IP="$2"
    shift
    [ $# -gt 0 ] && shift

    if [ -z "$INTERFACE" ]; then
        echo "Missing interface." >&2
        exit 1
    fi

    if [ -z "$IP" ]; then
        echo "Missing IP." >&2
        exit 1
    fi

    ADDRESS="${IP%%/*}"

    if [ "$ACTION" = "leader" ]; then
        $SUDO ip address add "$IP" dev "$INTERFACE"

        for _ in 1 2 3 4 5; do
            $SUDO arping -c 1 -U -I "$INTERFACE" "$ADDRESS"
            sleep 1
            $SUDO arping -c 1 -A -I "$INTERFACE" "$ADDRESS"
            sleep 1
        done
    else
        if ip address show dev "$INTERFACE" 2>/dev/null | grep -qi " ${ADDRESS}/"; then
            $SUDO ip address del "$IP" dev "$INTERFACE"
        fi
    fi
done

# Services that must run once per zone follow the leader. "systemd" means systemd is the
# running init (sd_booted: /run/systemd/system exists) -- the real script only tests for
# systemctl and /etc/systemd, which a container without systemd as PID 1 also has.
if command -v systemctl >/dev/null 2>&1 && [ -d /etc/systemd ] && [ -d /run/systemd/system ]; then
    if [ "$ACTION" = "leader" ]; then
        for SERVICE in opennebula-flow opennebula-gate; do
            if systemctl is-enabled "$SERVICE" >/dev/null 2>&1; then
                $SUDO systemctl start "$SERVICE"
            fi
        done
        for SERVICE in opennebula-hem opennebula-showback.timer; do
            case "$(systemctl is-enabled "$SERVICE" 2>/dev/null)" in
                enabled|linked*|disabled) $SUDO systemctl start "$SERVICE" ;;
            esac
        done
    else
        for SERVICE in opennebula-flow opennebula-gate opennebula-hem opennebula-showback.timer; do
            if systemctl is-enabled "$SERVICE" >/dev/null 2>&1 ||
               systemctl is-active "$SERVICE" >/dev/null 2>&1; then
                $SUDO systemctl stop "$SERVICE"
            fi
        done
    fi
else
    if [ "$ACTION" = "leader" ]; then
        SERVICE_ACTION=start
    else
        SERVICE_ACTION=stop
    fi
    for SERVICE in opennebula-flow opennebula-gate opennebula-hem; do
        if [ -x "/etc/init.d/$SERVICE" ]; then
            # 56>&-: a SysV daemon started here must not inherit (and hold) the lock.
            $SUDO service "$SERVICE" "$SERVICE_ACTION" 56>&-
        fi
    done
fi

exit 0
