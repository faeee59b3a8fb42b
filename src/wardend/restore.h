/* Start-up, before the socket serves: adopt the depot's live containers, tear the rest
 * down with destroy.sh. */
#ifndef W_RESTORE_H
#define W_RESTORE_H

void restore_all(void);

#endif
