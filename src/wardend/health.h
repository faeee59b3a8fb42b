/* The health check server (health_check_server.port, as the original Warden had): a TCP
 * socket on 127.0.0.1 where any request gets "HTTP/1.1 200 OK", for a load balancer or
 * a monitor to see that wardend's loop turns. */
#ifndef W_HEALTH_H
#define W_HEALTH_H

#include "error.h"

/* Listen on 127.0.0.1:port in g_loop; port 0 does nothing. */
int health_listen(int port, struct w_error *err);
/* Stop listening and drop every health connection. */
void health_close(void);

#endif
