# Shell helpers the infra scripts share; source it: `. "$root/infra/lib.sh"`.

# A TCP port on 127.0.0.1 that is free now (the OS picks it).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
