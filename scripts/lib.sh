# Shell functions shared by the scripts that start throw-away servers (sourced, not run).

# A free TCP port on 127.0.0.1 (python3 asks the kernel; without it, a random one, whose collision
# the caller's start retry catches).
free_port() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' \
      2>/dev/null && return 0
  fi
  echo $((20000 + RANDOM % 30000))
}

# Whether something accepts TCP connections on 127.0.0.1:$1.
port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
