#!/bin/sh
# Runs once inside the fresh debootstrap root file system (chroot), before `docker import`.
set -eu
cat >/etc/apt/sources.list <<'LIST'
deb http://deb.debian.org/debian bookworm main
deb http://deb.debian.org/debian bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
LIST
# As in Debian's official images: package scripts never start daemons, no docs, no caches.
printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
chmod 755 /usr/sbin/policy-rc.d
cat >/etc/dpkg/dpkg.cfg.d/noorm-nodoc <<'CFG'
path-exclude /usr/share/doc/*
path-exclude /usr/share/man/*
path-exclude /usr/share/locale/*
CFG
echo 'APT::Install-Recommends "false";' >/etc/apt/apt.conf.d/noorm-norecommends
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
