#ifndef WAYMARK_CLIBPQ_SHIM_H
#define WAYMARK_CLIBPQ_SHIM_H
#include <libpq-fe.h>
#include <poll.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

// `struct epoll_event` is packed on x86_64, which Swift does not import faithfully: these wrappers
// pass a socket's token as a plain integer.

/// Watches `fd` for readability once (EPOLLONESHOT); with `armed` 0 it is added disarmed.
static inline int waymark_epoll_control(int epfd, int op, int fd, int armed, uint64_t token) {
    struct epoll_event event;
    event.events = EPOLLONESHOT | (armed ? (EPOLLIN | EPOLLRDHUP) : 0);
    event.data.u64 = token;
    return epoll_ctl(epfd, op, fd, &event);
}

/// Waits for events and writes the tokens of the ready descriptors into `tokens`.
static inline int waymark_epoll_wait(int epfd, uint64_t *tokens, int capacity, int timeout) {
    struct epoll_event events[64];
    if (capacity > 64) capacity = 64;
    int count = epoll_wait(epfd, events, capacity, timeout);
    for (int i = 0; i < count; i++) tokens[i] = events[i].data.u64;
    return count;
}
#endif
